#pragma once

// DDIMScheduler (Song et al., arXiv:2010.02502), as diffusers' DDIMScheduler.

#include <torch/torch.h>

#include <string>

#include "ddim/schedulers/discrete_schedule.h"
#include "ddim/schedulers/noise_schedule.h"
#include "ddim/schedulers/scheduler.h"

namespace ddim {

// The config keys DDIMScheduler and DDIMInverseScheduler share, with diffusers' defaults.
struct DDIMBaseConfig : TrainScheduleConfig {
  bool clip_sample = true;
  // The alpha product after the last step: 1 (true) or alphas_cumprod[0] (false).
  bool set_alpha_to_one = true;
  int64_t steps_offset = 0;
  PredictionType prediction_type = PredictionType::kEpsilon;
  double clip_sample_range = 1.0;
  TimestepSpacing timestep_spacing = TimestepSpacing::kLeading;
  bool rescale_betas_zero_snr = false;

  template <class V>
  void visit_fields(V&& v) {
    TrainScheduleConfig::visit_fields(v);
    v("clip_sample", clip_sample);
    v("set_alpha_to_one", set_alpha_to_one);
    v("steps_offset", steps_offset);
    v("prediction_type", prediction_type);
    v("clip_sample_range", clip_sample_range);
    v("timestep_spacing", timestep_spacing);
    v("rescale_betas_zero_snr", rescale_betas_zero_snr);
  }
};

struct DDIMSchedulerConfig : DDIMBaseConfig, ThresholdingConfig {
  template <class V>
  void visit_fields(V&& v) {
    DDIMBaseConfig::visit_fields(v);
    ThresholdingConfig::visit_fields(v);
  }
};

class DDIMScheduler : public Scheduler {
 public:
  // Throws ConfigError when the config is invalid.
  explicit DDIMScheduler(const DDIMSchedulerConfig& config = {});

  const DDIMSchedulerConfig& config() const { return config_; }
  const torch::Tensor& alphas_cumprod() const { return schedule_.alphas_cumprod(); }

  void set_timesteps(int64_t num_inference_steps, torch::Device device = torch::kCPU) override;
  torch::Tensor timesteps() const override { return schedule_.timesteps(); }
  SchedulerOutput step(const torch::Tensor& model_output, int64_t timestep, const torch::Tensor& sample,
                       const StepOptions& options = {}) override;
  torch::Tensor add_noise(const torch::Tensor& original_samples, const torch::Tensor& noise,
                          const torch::Tensor& timesteps) const override;
  std::string config_json() const override;
  std::string class_name() const override { return "DDIMScheduler"; }

 private:
  DDIMSchedulerConfig config_;
  DiscreteSchedule schedule_;
  float final_alpha_cumprod_;
  float final_sqrt_alpha_;
  float final_sqrt_beta_;
};

}  // namespace ddim
