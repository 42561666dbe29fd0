#include "ddim/schedulers/dpm_solver_multistep_scheduler.h"

#include <algorithm>
#include <cmath>

#include "ddim/schedulers/noise_schedule.h"
#include "schedulers/cores/dpm_solver_core.h"
#include "schedulers/foundation/config_io.h"
#include "schedulers/foundation/numpy_compat.h"
#include "schedulers/foundation/scheduler_math.h"

namespace ddim {
namespace {

constexpr const char* kName = DPMSolverMultistepScheduler::kClassName;

torch::Tensor forward_alphas_cumprod(const DPMSolverMultistepSchedulerConfig& c) {
  auto ac = make_alphas_cumprod(c, c.rescale_betas_zero_snr);
  if (c.rescale_betas_zero_snr) ac[-1] = std::pow(2.0, -24);  // as diffusers, to keep log(sigma) finite
  return ac;
}

const DPMSolverMultistepSchedulerConfig& checked(const DPMSolverMultistepSchedulerConfig& c) {
  detail::check_dpm_config(c, kName);
  if (c.final_sigmas_type == FinalSigmasType::kZero &&
      (c.algorithm_type == DPMAlgorithmType::kDPMSolver || c.algorithm_type == DPMAlgorithmType::kSDEDPMSolver)) {
    detail::config_fail(kName, "final_sigmas_type",
                        "\"zero\" with algorithm_type \"" + to_string(c.algorithm_type) + "\"",
                        "sigma_min (diffusers supports zero only with dpmsolver++ and sde-dpmsolver++)");
  }
  return c;
}

}  // namespace

DPMSolverMultistepScheduler::DPMSolverMultistepScheduler(const DPMSolverMultistepSchedulerConfig& config)
    : config_(checked(config)),
      core_(std::make_unique<detail::DPMSolverCore>(
          kName, config_,
          detail::DPMSolverCore::Rules{/*upcast_to_float32=*/true,
                                       /*final_step_first_order=*/config_.final_sigmas_type == FinalSigmasType::kZero,
                                       /*inverse=*/false},
          forward_alphas_cumprod(config_), /*descending_initial_timesteps=*/true)) {}

DPMSolverMultistepScheduler::DPMSolverMultistepScheduler(const DPMSolverMultistepScheduler& other)
    : config_(other.config_), core_(std::make_unique<detail::DPMSolverCore>(*other.core_)) {}

DPMSolverMultistepScheduler::~DPMSolverMultistepScheduler() = default;

torch::Tensor DPMSolverMultistepScheduler::sigmas() const { return core_->sigmas(); }
torch::Tensor DPMSolverMultistepScheduler::timesteps() const { return core_->schedule().timesteps(); }

void DPMSolverMultistepScheduler::set_timesteps(int64_t num_inference_steps, torch::Device device) {
  // DPMSolverMultistepScheduler.set_timesteps
  const auto& c = config_;
  core_->schedule().check_num_inference_steps(num_inference_steps);
  const int64_t n = num_inference_steps;
  const int64_t train = c.num_train_timesteps;
  const int64_t last_timestep = train - core_->clipped_index();
  std::vector<double> ts;
  switch (c.timestep_spacing) {
    case TimestepSpacing::kLinspace: {
      const auto v = numpy::linspace(0, static_cast<double>(last_timestep - 1), n + 1);
      for (auto it = v.rbegin(); it + 1 != v.rend(); ++it) ts.push_back(numpy::round(*it));
      break;
    }
    case TimestepSpacing::kLeading: {
      const int64_t ratio = last_timestep / (n + 1);
      for (int64_t i = n; i >= 1; --i) ts.push_back(static_cast<double>(i * ratio + c.steps_offset));
      break;
    }
    case TimestepSpacing::kTrailing: {
      const double ratio = static_cast<double>(train) / static_cast<double>(n);
      for (double v : numpy::arange(static_cast<double>(last_timestep), 0, -ratio)) ts.push_back(numpy::round(v) - 1);
      break;
    }
  }

  std::vector<double> sigmas;
  const bool round_sigma_timesteps = c.beta_schedule != BetaSchedule::kSquaredcosCapV2;
  if (auto spaced = core_->spaced_sigmas(n, /*from_largest=*/true, round_sigma_timesteps, c.use_lu_lambdas)) {
    sigmas = std::move(spaced->sigmas);
    ts = std::move(spaced->timesteps);
  } else {
    std::vector<int64_t> ints(ts.begin(), ts.end());
    sigmas = table_at(ints, core_->train_sigmas());
  }
  float sigma_last = 0.0F;
  if (c.final_sigmas_type == FinalSigmasType::kSigmaMin) {
    const float a0 = core_->schedule().alphas_cumprod()[0].item<float>();
    sigma_last = detail::torch_sqrt((1.0F - a0) / a0);  // a float32 tensor ** 0.5 in diffusers
  }
  std::vector<float> sigmas32(sigmas.begin(), sigmas.end());
  sigmas32.push_back(sigma_last);
  core_->set_schedule(core_->integer_timesteps(ts), std::move(sigmas32), device);
}

SchedulerOutput DPMSolverMultistepScheduler::step(const torch::Tensor& model_output, int64_t timestep,
                                                  const torch::Tensor& sample, const StepOptions& options) {
  return core_->step(model_output, timestep, sample, options);
}

torch::Tensor DPMSolverMultistepScheduler::add_noise(const torch::Tensor& original_samples, const torch::Tensor& noise,
                                                     const torch::Tensor& timesteps) const {
  return core_->add_noise(original_samples, noise, timesteps);
}

std::string DPMSolverMultistepScheduler::config_json() const { return config::write(config_, kName); }

std::unique_ptr<Scheduler> DPMSolverMultistepScheduler::clone() const {
  return std::make_unique<DPMSolverMultistepScheduler>(*this);
}

}  // namespace ddim
