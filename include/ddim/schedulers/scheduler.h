#pragma once

// The interface every scheduler implements, and the per-step options and output. The factory that
// builds a scheduler from a diffusers scheduler_config.json is in scheduler_factory.h.

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "ddim/export.h"

namespace ddim {

// The optional arguments of diffusers' step(); plain aggregate with diffusers' defaults.
struct StepOptions {
  // DDIM: weight of the added noise (0 = deterministic DDIM, 1 = DDPM-like). Must be >= 0.
  double eta = 0.0;
  // DDIM: recompute the noise prediction from the clipped x0 prediction.
  bool use_clipped_model_output = false;
  // Draws the step's noise (DDIM with eta > 0, SDE DPM-Solver), as diffusers' randn_tensor does:
  // a CPU generator draws on the CPU and the noise moves to the sample's device.
  std::optional<at::Generator> generator;
  // The step's noise itself, instead of drawing it; not together with `generator`.
  std::optional<torch::Tensor> variance_noise;
};

struct SchedulerOutput {
  torch::Tensor prev_sample;
  // DDIM schedulers: the x0 prediction of this step; undefined for DPM-Solver (as in diffusers).
  torch::Tensor pred_original_sample;
};

class DDIM_API Scheduler {
 public:
  virtual ~Scheduler() = default;

  // Places num_inference_steps timesteps (1 <= n <= num_train_timesteps) and resets the state.
  virtual void set_timesteps(int64_t num_inference_steps, torch::Device device = torch::kCPU) = 0;
  // The current schedule, int64, 1-D, on the device given to set_timesteps.
  virtual torch::Tensor timesteps() const = 0;
  // One step from `sample` at `timestep` (which must be the schedule's next timestep) given the
  // model output. The result has the sample's dtype and device. No device-to-host sync.
  virtual SchedulerOutput step(const torch::Tensor& model_output, int64_t timestep, const torch::Tensor& sample,
                               const StepOptions& options = {}) = 0;
  // Forward diffusion: original_samples noised to `timesteps` (one per batch element).
  virtual torch::Tensor add_noise(const torch::Tensor& original_samples, const torch::Tensor& noise,
                                  const torch::Tensor& timesteps) const = 0;
  // The model input for `timestep`; the identity for every scheduler here.
  virtual torch::Tensor scale_model_input(const torch::Tensor& sample, int64_t timestep) const;
  // The config as diffusers writes scheduler_config.json: every key, sorted, plus _class_name.
  virtual std::string config_json() const = 0;
  // Writes dir/scheduler_config.json (through a temporary file, so never half-written). Throws IOError.
  void save_pretrained(const std::filesystem::path& dir) const;
  virtual int order() const;
  virtual double init_noise_sigma() const;
  // The diffusers class this scheduler mirrors, e.g. "DDIMScheduler" (each class's kClassName).
  virtual std::string class_name() const = 0;
  // A copy with the same config and the same state (schedule and multistep history): the pipelines
  // keep a validated scheduler as a prototype and run a clone of it each time.
  virtual std::unique_ptr<Scheduler> clone() const = 0;
};

}  // namespace ddim
