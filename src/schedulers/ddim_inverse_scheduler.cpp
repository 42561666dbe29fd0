#include "ddim/schedulers/ddim_inverse_scheduler.h"

#include <algorithm>
#include <cmath>

#include "ddim/scheduler_error.h"
#include "ddim/warnings.h"
#include "schedulers/config_io.h"
#include "schedulers/numpy_compat.h"
#include "schedulers/scheduler_math.h"

namespace ddim {
namespace {

constexpr const char* kName = "DDIMInverseScheduler";

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

}  // namespace

DDIMInverseScheduler::DDIMInverseScheduler(const DDIMInverseSchedulerConfig& config) : config_(config) {
  detail::check_train_config(config_, kName);
  if (config_.timestep_spacing == TimestepSpacing::kLinspace) {
    detail::config_fail(kName, "timestep_spacing", "\"linspace\"", "leading or trailing");
  }
  if (config_.prediction_type == PredictionType::kFlowPrediction) {
    detail::config_fail(kName, "prediction_type", "\"flow_prediction\"", "epsilon, sample or v_prediction");
  }
  if (config_.steps_offset < 0) {
    detail::config_fail(kName, "steps_offset", std::to_string(config_.steps_offset), "an integer >= 0");
  }
  // The first inverse step reads alpha 1 (set_alpha_to_one) before the schedule: with sample
  // prediction the noise estimate divides by sqrt(1 - 1) and diffusers returns NaN.
  if (config_.prediction_type == PredictionType::kSample && config_.set_alpha_to_one && config_.steps_offset == 0) {
    detail::config_fail(kName, "prediction_type", "\"sample\" with set_alpha_to_one true",
                        "epsilon or v_prediction, or set_alpha_to_one false (diffusers returns NaN at the first step)");
  }
  schedule_ = DiscreteSchedule(kName, make_alphas_cumprod(config_, config_.rescale_betas_zero_snr));
  initial_alpha_cumprod_ = config_.set_alpha_to_one ? 1.0F : static_cast<float>(schedule_.alpha_prod(0));
  initial_sqrt_alpha_ = detail::torch_sqrt(initial_alpha_cumprod_);
  initial_sqrt_beta_ = detail::torch_sqrt(1.0F - initial_alpha_cumprod_);
}

void DDIMInverseScheduler::set_timesteps(int64_t num_inference_steps, torch::Device device) {
  schedule_.check_num_inference_steps(num_inference_steps);
  auto ts = inverse_timesteps(config_, num_inference_steps);
  const int64_t ratio = config_.num_train_timesteps / num_inference_steps;
  for (int64_t t : ts) {
    const int64_t from = std::min(t - ratio, config_.num_train_timesteps - 1);
    const double alpha = from >= 0 ? schedule_.alpha_prod(from) : initial_alpha_cumprod_;
    if (config_.prediction_type == PredictionType::kSample && alpha == 1.0) {
      throw SchedulerError(std::string(kName) + ": with sample prediction the step at timestep " + std::to_string(t) +
                           " starts from alpha 1 and diffusers returns NaN; use set_alpha_to_one false");
    }
  }
  if (static_cast<int64_t>(ts.size()) != num_inference_steps) {
    warn(std::string(kName) + ": trailing spacing gives " + std::to_string(ts.size()) + " timesteps for " +
         std::to_string(num_inference_steps) + " steps (the first is " + std::to_string(ts.front()) +
         "), exactly as diffusers does");
  }
  schedule_.set(std::move(ts), num_inference_steps, device);
}

SchedulerOutput DDIMInverseScheduler::step(const torch::Tensor& model_output, int64_t timestep,
                                           const torch::Tensor& sample, const StepOptions& /*options*/) {
  schedule_.require_set();
  schedule_.index_of(timestep);
  // DDIMInverseScheduler.step: from the timestep one ratio below to `timestep`.
  const int64_t prev_timestep = timestep;
  const int64_t from = std::min(timestep - config_.num_train_timesteps / schedule_.num_inference_steps(),
                                config_.num_train_timesteps - 1);
  const bool has_from = from >= 0;
  detail::DDIMScalars scalars;
  scalars.prediction_type = config_.prediction_type;
  scalars.sqrt_alpha = has_from ? schedule_.sqrt_alpha_prod(from) : initial_sqrt_alpha_;
  scalars.sqrt_beta = has_from ? schedule_.sqrt_one_minus_alpha_prod(from) : initial_sqrt_beta_;
  scalars.sqrt_alpha_prev = schedule_.sqrt_alpha_prod(prev_timestep);
  scalars.direction = schedule_.sqrt_one_minus_alpha_prod(prev_timestep);
  detail::X0Processing processing;
  processing.clip = config_.clip_sample;
  processing.clip_range = static_cast<float>(config_.clip_sample_range);
  auto [prev_sample, x0] = detail::ddim_step(sample, model_output, scalars, processing, torch::Tensor(), 0.0F);
  return {prev_sample, x0};
}

torch::Tensor DDIMInverseScheduler::add_noise(const torch::Tensor& original_samples, const torch::Tensor& noise,
                                              const torch::Tensor& timesteps) const {
  return detail::add_noise_alphas(schedule_.alphas_cumprod(), original_samples, noise, timesteps);
}

std::string DDIMInverseScheduler::config_json() const { return config::write(config_, kName); }

}  // namespace ddim
