#pragma once

// DDIMInverseScheduler: DDIM run from the image towards the noise (DDIM inversion), as diffusers'
// DDIMInverseScheduler.

#include <torch/torch.h>

#include <memory>
#include <string>

#include "ddim/export.h"
#include "ddim/schedulers/ddim_scheduler.h"

namespace ddim {

// Keys as DDIMScheduler's, without thresholding; timestep_spacing is leading or trailing. The
// deprecated key set_alpha_to_zero is read into set_alpha_to_one, as diffusers does.
struct DDIMInverseSchedulerConfig : DDIMBaseConfig {};

class DDIM_API DDIMInverseScheduler : public Scheduler {
 public:
  static constexpr const char* kClassName = "DDIMInverseScheduler";

  // Throws ConfigError when the config is invalid or is one diffusers returns NaN for.
  explicit DDIMInverseScheduler(const DDIMInverseSchedulerConfig& config = {});
  DDIMInverseScheduler(const DDIMInverseScheduler& other);
  DDIMInverseScheduler& operator=(const DDIMInverseScheduler&) = delete;  // polymorphic: copy with clone()
  ~DDIMInverseScheduler() override;

  const DDIMInverseSchedulerConfig& config() const { return config_; }
  const torch::Tensor& alphas_cumprod() const;

  void set_timesteps(int64_t num_inference_steps, torch::Device device = torch::kCPU) override;
  torch::Tensor timesteps() const override;
  // StepOptions are ignored (DDIM inversion is deterministic), as diffusers takes none.
  SchedulerOutput step(const torch::Tensor& model_output, int64_t timestep, const torch::Tensor& sample,
                       const StepOptions& options = {}) override;
  // Forward diffusion as DDIMScheduler's (diffusers' inverse scheduler has none).
  torch::Tensor add_noise(const torch::Tensor& original_samples, const torch::Tensor& noise,
                          const torch::Tensor& timesteps) const override;
  std::string config_json() const override;
  std::string class_name() const override { return kClassName; }
  std::unique_ptr<Scheduler> clone() const override;

 private:
  DDIMInverseSchedulerConfig config_;
  std::unique_ptr<detail::DDIMCore> core_;
};

}  // namespace ddim
