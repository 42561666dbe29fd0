#include "ddim/schedulers/ddim_inverse_scheduler.h"

#include <algorithm>

#include "ddim/errors.h"
#include "schedulers/cores/ddim_core.h"
#include "schedulers/foundation/config_io.h"
#include "schedulers/foundation/numpy_compat.h"
#include "schedulers/foundation/scheduler_math.h"

namespace ddim {
namespace {

constexpr const char* kName = DDIMInverseScheduler::kClassName;

// DDIMInverseScheduler.set_timesteps, ascending.
std::vector<int64_t> inverse_timesteps(const DDIMInverseSchedulerConfig& c, int64_t n) {
  const int64_t train = c.num_train_timesteps;
  std::vector<int64_t> ts;
  if (c.timestep_spacing == TimestepSpacing::kLeading) {
    const int64_t ratio = train / n;
    for (int64_t i = 0; i < n; ++i) ts.push_back(i * ratio + c.steps_offset);
  } else {
    const double ratio = static_cast<double>(train) / static_cast<double>(n);
    for (double v : numpy::arange(static_cast<double>(train), 0, -ratio))
      ts.push_back(static_cast<int64_t>(numpy::round(v)) - 1);
    std::reverse(ts.begin(), ts.end());
  }
  return ts;
}

// The rules only the inverse has; the shared keys are checked by DDIMCore. (Sample prediction
// with set_alpha_to_one is refused by set_timesteps, for the schedules whose first step starts
// from alpha 1: diffusers returns NaN there; trailing spacing, for one, never does.)
const DDIMInverseSchedulerConfig& checked(const DDIMInverseSchedulerConfig& c) {
  if (c.timestep_spacing == TimestepSpacing::kLinspace) {
    detail::config_fail(kName, "timestep_spacing", "\"linspace\"", "leading or trailing");
  }
  return c;
}

}  // namespace

DDIMInverseScheduler::DDIMInverseScheduler(const DDIMInverseSchedulerConfig& config)
    : config_(checked(config)), core_(std::make_unique<detail::DDIMCore>(kName, config_, /*inverse=*/true)) {}

DDIMInverseScheduler::DDIMInverseScheduler(const DDIMInverseScheduler& other)
    : config_(other.config_), core_(std::make_unique<detail::DDIMCore>(*other.core_)) {}

DDIMInverseScheduler::~DDIMInverseScheduler() = default;

const torch::Tensor& DDIMInverseScheduler::alphas_cumprod() const { return core_->schedule().alphas_cumprod(); }
torch::Tensor DDIMInverseScheduler::timesteps() const { return core_->schedule().timesteps(); }

void DDIMInverseScheduler::set_timesteps(int64_t num_inference_steps, torch::Device device) {
  core_->schedule().check_num_inference_steps(num_inference_steps);
  auto ts = inverse_timesteps(config_, num_inference_steps);
  const int64_t ratio = config_.num_train_timesteps / num_inference_steps;
  for (int64_t t : ts) {
    const int64_t from = std::min(t - ratio, config_.num_train_timesteps - 1);
    if (config_.prediction_type == PredictionType::kSample && core_->alpha_prod_or_boundary(from) == 1.0F) {
      throw SchedulerError(std::string(kName) + ": with sample prediction the step at timestep " + std::to_string(t) +
                           " starts from alpha 1 and diffusers returns NaN; use set_alpha_to_one false");
    }
    // Epsilon prediction from alphas_cumprod 0 (betas whose product underflows, or zero-SNR)
    // divides by zero: only clipping can keep diffusers' result finite, and not for every sample.
    if (config_.prediction_type == PredictionType::kEpsilon && core_->alpha_prod_or_boundary(from) == 0.0F &&
        !config_.clip_sample) {
      throw SchedulerError(std::string(kName) + ": the step to timestep " + std::to_string(t) + " starts from timestep " +
                           std::to_string(from) +
                           " whose alphas_cumprod is 0, and epsilon prediction without clipping divides by zero there "
                           "(diffusers returns non-finite samples); use v_prediction or clip_sample");
    }
  }
  core_->set_schedule(std::move(ts), num_inference_steps, device);
}

SchedulerOutput DDIMInverseScheduler::step(const torch::Tensor& model_output, int64_t timestep,
                                           const torch::Tensor& sample, const StepOptions& /*options*/) {
  core_->check_step(timestep);
  // DDIMInverseScheduler.step: from the timestep one ratio below (initial_alpha_cumprod when
  // negative) to `timestep`.
  const int64_t from = std::min(timestep - core_->step_ratio(), config_.num_train_timesteps - 1);
  detail::DDIMScalars scalars;
  scalars.prediction_type = config_.prediction_type;
  scalars.sqrt_alpha = core_->sqrt_alpha_prod_or_boundary(from);
  scalars.sqrt_beta = core_->sqrt_one_minus_alpha_prod_or_boundary(from);
  scalars.sqrt_alpha_prev = core_->sqrt_alpha_prod(timestep);
  scalars.direction = core_->sqrt_one_minus_alpha_prod(timestep);
  detail::X0Processing processing;
  processing.clip = config_.clip_sample;
  processing.clip_range = static_cast<float>(config_.clip_sample_range);
  auto [prev_sample, x0] = detail::ddim_step(sample, model_output, scalars, processing, torch::Tensor(), 0.0F);
  // The one step whose result depends on the data (a clipped 0 / 0 is NaN): checked here only, so
  // that other steps never wait for the device.
  if (config_.prediction_type == PredictionType::kEpsilon && core_->alpha_prod_or_boundary(from) == 0.0F &&
      !torch::isfinite(prev_sample).all().item<bool>()) {
    throw SchedulerError(std::string(kName) + ": the step to timestep " + std::to_string(timestep) +
                         " gives a non-finite sample (alphas_cumprod 0 at timestep " + std::to_string(from) +
                         " with epsilon prediction divides by zero; diffusers returns NaN); use v_prediction");
  }
  return {prev_sample, x0};
}

torch::Tensor DDIMInverseScheduler::add_noise(const torch::Tensor& original_samples, const torch::Tensor& noise,
                                              const torch::Tensor& timesteps) const {
  return core_->add_noise(original_samples, noise, timesteps);
}

std::string DDIMInverseScheduler::config_json() const { return config::write(config_, kName); }

std::unique_ptr<Scheduler> DDIMInverseScheduler::clone() const { return std::make_unique<DDIMInverseScheduler>(*this); }

}  // namespace ddim
