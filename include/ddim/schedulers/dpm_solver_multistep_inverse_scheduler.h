#pragma once

// DPMSolverMultistepInverseScheduler: DPM-Solver run from the image towards the noise, as
// diffusers' DPMSolverMultistepInverseScheduler.

#include <torch/torch.h>

#include <memory>
#include <string>

#include "ddim/export.h"
#include "ddim/schedulers/dpm_solver_multistep_scheduler.h"

namespace ddim {

// The shared DPM-Solver keys. The SDE algorithm types are refused unless use_flow_sigmas is set
// (and then only up to solver_order 2): otherwise diffusers' inverse scheduler takes the square
// root of a negative number and returns NaN.
struct DPMSolverMultistepInverseSchedulerConfig : DPMSolverBaseConfig {};

class DDIM_API DPMSolverMultistepInverseScheduler : public Scheduler {
 public:
  static constexpr const char* kClassName = "DPMSolverMultistepInverseScheduler";

  // Throws ConfigError when the config is invalid or is one diffusers cannot run.
  explicit DPMSolverMultistepInverseScheduler(const DPMSolverMultistepInverseSchedulerConfig& config = {});
  DPMSolverMultistepInverseScheduler(const DPMSolverMultistepInverseScheduler& other);
  DPMSolverMultistepInverseScheduler& operator=(const DPMSolverMultistepInverseScheduler&) =
      delete;  // polymorphic: copy with clone()
  ~DPMSolverMultistepInverseScheduler() override;

  const DPMSolverMultistepInverseSchedulerConfig& config() const { return config_; }
  torch::Tensor sigmas() const;

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
  DPMSolverMultistepInverseSchedulerConfig config_;
  std::unique_ptr<detail::DPMSolverCore> core_;
};

}  // namespace ddim
