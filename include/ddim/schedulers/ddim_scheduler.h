#pragma once

// DDIMScheduler (Song et al., arXiv:2010.02502), as diffusers' DDIMScheduler.

#include <torch/torch.h>

#include <memory>
#include <string>

#include "ddim/export.h"
#include "ddim/schedulers/config_base.h"
#include "ddim/schedulers/config_enums.h"
#include "ddim/schedulers/scheduler.h"

namespace ddim {

namespace detail {
class DDIMCore;
}

// The config keys DDIMScheduler and DDIMInverseScheduler share, with diffusers' defaults.
struct DDIMBaseConfig : TrainScheduleConfig {
  /// Clip the x0 prediction to [-clip_sample_range, clip_sample_range] for numerical stability. Default true.
  bool clip_sample = true;
  /// The alpha product beyond the schedule's end (after the last step; for the inverse, before the
  /// first): 1 when true, else alphas_cumprod[0]. Default true.
  bool set_alpha_to_one = true;
  /// Added to the inference timesteps, as some model families need (leading spacing). Default 0.
  int64_t steps_offset = 0;
  /// What the model predicts: epsilon, sample or v_prediction. Default epsilon.
  PredictionType prediction_type = PredictionType::kEpsilon;
  /// The bound of clip_sample. Default 1.0.
  double clip_sample_range = 1.0;
  /// How the inference timesteps are placed (arXiv:2305.08891, Table 2). Default leading.
  TimestepSpacing timestep_spacing = TimestepSpacing::kLeading;
  /// Rescale the betas to zero terminal SNR (arXiv:2305.08891, Algorithm 1), for very bright and
  /// dark samples; the model should be trained for it (v_prediction). Default false.
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

// DDIMScheduler's keys: the shared ones and dynamic thresholding (which replaces clipping when set).
struct DDIMSchedulerConfig : DDIMBaseConfig, ThresholdingConfig {
  template <class V>
  void visit_fields(V&& v) {
    DDIMBaseConfig::visit_fields(v);
    ThresholdingConfig::visit_fields(v);
  }
};

class DDIM_API DDIMScheduler : public Scheduler {
 public:
  static constexpr const char* kClassName = "DDIMScheduler";

  // Throws ConfigError when the config is invalid.
  explicit DDIMScheduler(const DDIMSchedulerConfig& config = {});
  DDIMScheduler(const DDIMScheduler& other);
  DDIMScheduler& operator=(const DDIMScheduler&) = delete;  // polymorphic: copy with clone()
  ~DDIMScheduler() override;

  const DDIMSchedulerConfig& config() const { return config_; }
  // The training alphas_cumprod, float32 (after the zero-SNR rescale when configured).
  const torch::Tensor& alphas_cumprod() const;

  void set_timesteps(int64_t num_inference_steps, torch::Device device = torch::kCPU) override;
  torch::Tensor timesteps() const override;
  SchedulerOutput step(const torch::Tensor& model_output, int64_t timestep, const torch::Tensor& sample,
                       const StepOptions& options = {}) override;
  torch::Tensor add_noise(const torch::Tensor& original_samples, const torch::Tensor& noise,
                          const torch::Tensor& timesteps) const override;
  std::string config_json() const override;
  std::string class_name() const override { return kClassName; }
  std::unique_ptr<Scheduler> clone() const override;

 private:
  DDIMSchedulerConfig config_;
  std::unique_ptr<detail::DDIMCore> core_;
};

}  // namespace ddim
