#include "ddim/schedulers/dpm_solver_multistep_inverse_scheduler.h"

#include <algorithm>
#include <cmath>

#include "ddim/schedulers/noise_schedule.h"
#include "schedulers/cores/dpm_solver_core.h"
#include "schedulers/foundation/config_io.h"
#include "schedulers/foundation/numpy_compat.h"
#include "schedulers/foundation/scheduler_math.h"

namespace ddim {
namespace {

constexpr const char* kName = DPMSolverMultistepInverseScheduler::kClassName;

const DPMSolverMultistepInverseSchedulerConfig& checked(const DPMSolverMultistepInverseSchedulerConfig& c) {
  detail::check_dpm_config(c, kName);
  return c;
}

}  // namespace

DPMSolverMultistepInverseScheduler::DPMSolverMultistepInverseScheduler(
    const DPMSolverMultistepInverseSchedulerConfig& config)
    : config_(checked(config)),
      core_(std::make_unique<detail::DPMSolverCore>(
          kName, config_,
          detail::DPMSolverCore::Rules{/*upcast_to_float32=*/false, /*final_step_first_order=*/false, /*inverse=*/true},
          make_alphas_cumprod(config_, /*rescale_betas_zero_snr=*/false), /*descending_initial_timesteps=*/false)) {}

DPMSolverMultistepInverseScheduler::DPMSolverMultistepInverseScheduler(const DPMSolverMultistepInverseScheduler& other)
    : config_(other.config_), core_(std::make_unique<detail::DPMSolverCore>(*other.core_)) {}

DPMSolverMultistepInverseScheduler::~DPMSolverMultistepInverseScheduler() = default;

torch::Tensor DPMSolverMultistepInverseScheduler::sigmas() const { return core_->sigmas(); }
torch::Tensor DPMSolverMultistepInverseScheduler::timesteps() const { return core_->schedule().timesteps(); }

void DPMSolverMultistepInverseScheduler::set_timesteps(int64_t num_inference_steps, torch::Device device) {
  // DPMSolverMultistepInverseScheduler.set_timesteps
  const auto& c = config_;
  core_->schedule().check_num_inference_steps(num_inference_steps);
  const int64_t n = num_inference_steps;
  const int64_t train = c.num_train_timesteps;
  const int64_t noisiest = train - 1 - core_->clipped_index();
  std::vector<double> ts;
  switch (c.timestep_spacing) {
    case TimestepSpacing::kLinspace: {
      const auto v = numpy::linspace(0, static_cast<double>(noisiest), n + 1);
      for (size_t i = 0; i + 1 < v.size(); ++i) ts.push_back(numpy::round(v[i]));
      break;
    }
    case TimestepSpacing::kLeading: {
      const int64_t ratio = (noisiest + 1) / (n + 1);
      for (int64_t i = 0; i < n; ++i) ts.push_back(static_cast<double>(i * ratio + c.steps_offset));
      break;
    }
    case TimestepSpacing::kTrailing: {
      const double ratio = static_cast<double>(train) / static_cast<double>(n);
      const auto v = numpy::arange(static_cast<double>(noisiest + 1), 0, -ratio);
      for (auto it = v.rbegin(); it != v.rend(); ++it) ts.push_back(numpy::round(*it) - 1);
      break;
    }
  }

  // Unlike the forward scheduler the table is not flipped: the spacings run from the smallest sigma.
  std::vector<float> sigmas32;
  if (auto spaced = core_->spaced_sigmas(n, /*from_largest=*/false, /*round_karras=*/true, /*use_lu_lambdas=*/false)) {
    sigmas32.assign(spaced->sigmas.begin(), spaced->sigmas.end());
    sigmas32.push_back(sigmas32.back());
    ts = std::move(spaced->timesteps);
  } else {
    std::vector<int64_t> ints(ts.begin(), ts.end());
    const auto values = table_at(ints, core_->train_sigmas());
    sigmas32.assign(values.begin(), values.end());
    const float a = core_->schedule().alphas_cumprod()[noisiest].item<float>();
    sigmas32.push_back(detail::torch_sqrt((1.0F - a) / a));  // a float32 tensor ** 0.5 in diffusers
  }
  // np.unique(return_index) keeps each timestep's first occurrence, in order; the sigmas are kept whole.
  std::vector<double> unique;
  for (double t : ts) {
    if (std::find(unique.begin(), unique.end(), t) == unique.end()) unique.push_back(t);
  }
  core_->set_schedule(core_->integer_timesteps(unique), std::move(sigmas32), device);
}

SchedulerOutput DPMSolverMultistepInverseScheduler::step(const torch::Tensor& model_output, int64_t timestep,
                                                         const torch::Tensor& sample, const StepOptions& options) {
  return core_->step(model_output, timestep, sample, options);
}

torch::Tensor DPMSolverMultistepInverseScheduler::add_noise(const torch::Tensor& original_samples,
                                                            const torch::Tensor& noise,
                                                            const torch::Tensor& timesteps) const {
  return core_->add_noise(original_samples, noise, timesteps);
}

std::string DPMSolverMultistepInverseScheduler::config_json() const { return config::write(config_, kName); }

std::unique_ptr<Scheduler> DPMSolverMultistepInverseScheduler::clone() const {
  return std::make_unique<DPMSolverMultistepInverseScheduler>(*this);
}

}  // namespace ddim
