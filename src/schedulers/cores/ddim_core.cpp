#include "schedulers/cores/ddim_core.h"

#include <utility>

#include "ddim/schedulers/noise_schedule.h"
#include "ddim/warnings.h"
#include "schedulers/foundation/scheduler_math.h"

namespace ddim::detail {

DDIMCore::DDIMCore(std::string owner, const DDIMBaseConfig& config, bool inverse)
    : owner_(std::move(owner)), num_train_timesteps_(config.num_train_timesteps), inverse_(inverse) {
  check_train_config(config, owner_);
  if (config.prediction_type == PredictionType::kFlowPrediction) {
    config_fail(owner_, "prediction_type", "\"flow_prediction\"", "epsilon, sample or v_prediction");
  }
  if (config.steps_offset < 0 || config.steps_offset > config.num_train_timesteps) {
    config_fail(owner_, "steps_offset", std::to_string(config.steps_offset), "an integer in [0, num_train_timesteps]");
  }
  schedule_ = DiscreteSchedule(owner_, make_alphas_cumprod(config, config.rescale_betas_zero_snr),
                               /*descending=*/!inverse);
  boundary_alpha_ = config.set_alpha_to_one ? 1.0F : static_cast<float>(schedule_.alpha_prod(0));
  boundary_sqrt_alpha_ = torch_sqrt(boundary_alpha_);
  boundary_sqrt_beta_ = torch_sqrt(1.0F - boundary_alpha_);
}

float DDIMCore::alpha_prod_or_boundary(int64_t t) const {
  return t >= 0 ? static_cast<float>(schedule_.alpha_prod(t)) : boundary_alpha_;
}

float DDIMCore::sqrt_alpha_prod_or_boundary(int64_t t) const {
  return t >= 0 ? schedule_.sqrt_alpha_prod(t) : boundary_sqrt_alpha_;
}

float DDIMCore::sqrt_one_minus_alpha_prod_or_boundary(int64_t t) const {
  return t >= 0 ? schedule_.sqrt_one_minus_alpha_prod(t) : boundary_sqrt_beta_;
}

void DDIMCore::set_schedule(std::vector<int64_t> timesteps, int64_t num_inference_steps, torch::Device device) {
  if (static_cast<int64_t>(timesteps.size()) != num_inference_steps) {
    // The smallest timestep is the last of a forward schedule and the first of an inverse one.
    const std::string smallest = inverse_ ? "the first is " + std::to_string(timesteps.front())
                                          : "the last is " + std::to_string(timesteps.back());
    warn(owner_ + ": trailing spacing gives " + std::to_string(timesteps.size()) + " timesteps for " +
         std::to_string(num_inference_steps) + " steps (" + smallest + "), exactly as diffusers does");
  }
  schedule_.set(std::move(timesteps), num_inference_steps, device);
}

int64_t DDIMCore::step_ratio() const {
  schedule_.require_set();
  return num_train_timesteps_ / schedule_.num_inference_steps();
}

void DDIMCore::check_step(int64_t timestep) const {
  schedule_.require_set();
  schedule_.index_of(timestep);
}

torch::Tensor DDIMCore::add_noise(const torch::Tensor& original_samples, const torch::Tensor& noise,
                                  const torch::Tensor& timesteps) const {
  return add_noise_alphas(schedule_.alphas_cumprod(), original_samples, noise, timesteps);
}

}  // namespace ddim::detail
