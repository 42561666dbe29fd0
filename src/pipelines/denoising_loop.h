#pragma once

// The loop both pipelines run, as diffusers' pipelines run it:
//   scheduler.set_timesteps(N); for t in scheduler.timesteps: x = scheduler.step(unet(x, t), t, x).prev_sample
// Mixed precision: the sample and the scheduler's arithmetic stay in latent_dtype(unet) (float32 for a
// float16 or bfloat16 UNet); only the UNet runs in its own dtype, its output cast up before step.

#include <torch/torch.h>

#include "ddim/models/unet.h"
#include "ddim/models/vae.h"
#include "ddim/pipelines/ddim_pipeline.h"
#include "ddim/schedulers/scheduler.h"

namespace ddim::detail {

struct LoopResult {
  torch::Tensor sample;
  bool cancelled = false;
  int steps_done = 0;
  int64_t unet_calls = 0;  // model evaluations (each on the whole batch)
};

// The dtype of latents and samples for this UNet: float32, or the UNet's dtype when that is wider.
torch::ScalarType latent_dtype(const UNet& unet);

// The UNet's output at (sample, timestep), cast to the sample's dtype: what every loop steps with.
torch::Tensor model_output(UNet& unet, const torch::Tensor& sample, int64_t timestep);

// Throws SchedulerError naming the first step whose sample is not finite (checked on the device,
// read once after the loop).
LoopResult denoising_loop(Scheduler& scheduler, UNet& unet, torch::Tensor sample, int64_t num_inference_steps,
                          const StepOptions& step_options, const StepCallback& callback);

// (x / 2 + 0.5).clamp(0, 1) as [B, H, W, C] float32 on the CPU: diffusers' decoding of samples.
torch::Tensor decode_images(const torch::Tensor& sample);
// A latent model's: decode_images(vae->decode(sample / scaling_factor)), as LDMPipeline and
// StableDiffusionPipeline decode; decode_images(sample) when vae is null.
torch::Tensor decode_images(const torch::Tensor& sample, VAE* vae);

}  // namespace ddim::detail
