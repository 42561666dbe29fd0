#pragma once

// Images -> latent noise with an inverse scheduler (DDIM or DPM-Solver inversion), and back with
// its forward partner, as diffusers pipelines invert without guidance.

#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ddim/export.h"
#include "ddim/models/unet.h"
#include "ddim/pipelines/ddim_pipeline.h"
#include "ddim/schedulers/scheduler.h"

namespace ddim {

enum class InverseScheduler {
  kDDIM,      // DDIMInverseScheduler, back with DDIMScheduler
  kDPMSolver  // DPMSolverMultistepInverseScheduler, back with DPMSolverMultistepScheduler
};

// The diffusers classes of a pair: e.g. "DDIMInverseScheduler" and "DDIMScheduler".
DDIM_API const char* inverse_class_name(InverseScheduler kind);
DDIM_API const char* forward_class_name(InverseScheduler kind);

struct InvertOptions {
  int64_t num_inference_steps = 50;
  StepCallback callback;
};

struct Reconstruction {
  torch::Tensor images;      // [B, H, W, C] float32 in [0, 1] on the CPU
  std::vector<double> mse;   // per image, against the originals when given
  std::vector<double> psnr;  // dB, 10 log10(1 / mse)
  bool cancelled = false;
};

class DDIM_API InversionPipeline {
 public:
  static InversionPipeline from_pretrained(const std::filesystem::path& model_dir, torch::Device device = torch::kCPU,
                                           torch::ScalarType dtype = torch::kFloat32,
                                           InverseScheduler scheduler = InverseScheduler::kDDIM);
  // Both schedulers of the pair from one diffusers config, as X.from_config(pipe.scheduler.config).
  // Throws ConfigError now when either cannot be built.
  InversionPipeline(std::shared_ptr<UNet> unet, const std::string& scheduler_config_json, InverseScheduler scheduler);
  // Any inverse scheduler and the forward scheduler that undoes it; copies of both (clone()) are
  // kept and a clone runs in each invert() / reconstruct().
  InversionPipeline(std::shared_ptr<UNet> unet, const Scheduler& inverse, const Scheduler& forward);

  // images [B, H, W, C] in [0, 1] (the layout DDIMPipeline returns) -> latents [B, C, H, W] on the
  // model's device, in float32 whatever the UNet's dtype (a float16/bfloat16 UNet runs in mixed
  // precision: only its forward is in that dtype): x = 2 images - 1, then for each t of the inverse schedule
  // x = inverse.step(unet(x, t), t, x). Undefined if the callback cancelled. Throws UsageError
  // naming the shape when the images do not fit the model.
  torch::Tensor invert(const torch::Tensor& images, const InvertOptions& options = {});
  // latents -> images with the forward partner; MSE and PSNR against `originals` when given.
  Reconstruction reconstruct(const torch::Tensor& latents, const InvertOptions& options = {},
                             const torch::Tensor& originals = {});

  const Scheduler& inverse_scheduler() const { return *inverse_; }
  const Scheduler& forward_scheduler() const { return *forward_; }

 private:
  std::shared_ptr<UNet> unet_;
  std::shared_ptr<const Scheduler> inverse_;
  std::shared_ptr<const Scheduler> forward_;
};

}  // namespace ddim
