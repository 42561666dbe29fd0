#pragma once

// DDIMPipeline: noise -> images with a UNet and a DDIMScheduler, as diffusers' DDIMPipeline; with a
// VAE (a latent model), the final latents are decoded as LDMPipeline and StableDiffusionPipeline
// decode them: vae.decode(latents / scaling_factor), then (x / 2 + 0.5).clamp(0, 1).

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "ddim/export.h"
#include "ddim/models/unet.h"
#include "ddim/models/vae.h"
#include "ddim/pipelines/guidance.h"
#include "ddim/schedulers/ddim_scheduler.h"

namespace ddim {

// Called after each step with (steps done, total steps, current latents); return false to stop.
using StepCallback = std::function<bool(int step, int total, const torch::Tensor& latents)>;

struct GenerateOptions {
  int64_t batch_size = 1;
  int64_t num_inference_steps = 50;
  double eta = 0.0;
  // Unset = not passed to the scheduler, as in diffusers (the same as false).
  std::optional<bool> use_clipped_model_output;
  // The noise source: `generator` if set, else a CPU generator seeded with `seed`, else a random
  // seed (random_seed(), reported in GenerateResult::seed). A CPU generator draws on the CPU and
  // moves the noise, so CPU and CUDA runs start from the noise diffusers draws on the CPU.
  std::optional<uint64_t> seed;
  std::optional<at::Generator> generator;
  // Start from these latents [batch_size, C, H, W] instead of drawing them.
  std::optional<torch::Tensor> latents;
  // The condition (class labels, encoder hidden states), the negative one and the guidance scale
  // of a conditional model (ddim/pipelines/guidance.h); empty for an unconditional one.
  Guidance guidance;
  StepCallback callback;
};

struct GenerateResult {
  // [B, H, W, C] float32 in [0, 1] on the CPU, as diffusers' output_type="np" (decoded by the VAE
  // for a latent model); undefined if cancelled.
  torch::Tensor images;
  // The starting latents [B, C, H, W] (drawn or given).
  torch::Tensor initial_latents;
  // The final sample [B, C, H, W] before decoding, on the UNet's device in the latent dtype
  // (diffusers' output_type="latent"); undefined if cancelled.
  torch::Tensor latents;
  // The seed the noise came from (unset when a generator was given).
  std::optional<uint64_t> seed;
  bool cancelled = false;
  int steps_done = 0;
};

// A run of many images in micro-batches (generate_batches): batch k holds images
// [k * batch_size, min((k + 1) * batch_size, num_images)) and is exactly what diffusers'
// DDIMPipeline(batch_size=<its size>, generator=torch.Generator().manual_seed(seed + k)) gives, so
// every batch can be reproduced on its own and a run's images depend only on (seed, batch_size,
// num_images, model, options), not on how the batches were spread over processes.
struct BatchedGenerateOptions {
  int64_t num_images = 1;
  // The micro-batch; memory is bounded by it, not by num_images. Above num_images it is num_images.
  int64_t batch_size = 16;
  uint64_t seed = 0;  // batch k draws from seed + k (seed + batches - 1 must fit in 64 bits)
  int64_t num_inference_steps = 50;
  double eta = 0.0;
  std::optional<bool> use_clipped_model_output;
  // Start from these latents [num_images, C, H, W] (batch k takes its rows) instead of drawing them.
  std::optional<torch::Tensor> latents;
  // As GenerateOptions::guidance; a condition of num_images rows gives batch k its rows, one of 1
  // row is every image's.
  Guidance guidance;
  // Runs only the batches k with k % shard_count == shard_index.
  int64_t shard_index = 0;
  int64_t shard_count = 1;
  // Called before a batch of this shard runs; true skips it (e.g. its outputs exist).
  std::function<bool(int64_t batch)> skip;
  // Per step inside each batch, as GenerateOptions::callback; false stops the run.
  StepCallback callback;
};

// Called when batch `batch` has finished, with the index of its first image; false stops the run.
using BatchCallback = std::function<bool(int64_t batch, int64_t first_image, const GenerateResult& result)>;

struct BatchedGenerateResult {
  int64_t batches_run = 0;
  int64_t batches_skipped = 0;
  bool cancelled = false;
};

class DDIM_API DDIMPipeline {
 public:
  // The model folder of scripts/export_unet.py or scripts/export_model.py (with its VAE, if it has
  // one, in float32); the scheduler is built from its scheduler config
  // as DDIMScheduler.from_config(pipe.scheduler.config). Throws ConfigError. With a float16 or
  // bfloat16 `dtype` the UNet runs in that dtype while latents and scheduler arithmetic stay
  // float32 (mixed precision; the UNet's output is cast up before each step).
  static DDIMPipeline from_pretrained(const std::filesystem::path& model_dir, torch::Device device = torch::kCPU,
                                      torch::ScalarType dtype = torch::kFloat32);
  // Keeps a copy of `scheduler` (already validated by its constructor) and runs a clone of it in
  // each generate().
  DDIMPipeline(std::shared_ptr<UNet> unet, const DDIMScheduler& scheduler);
  // The scheduler from any diffusers scheduler config, as DDIMScheduler.from_config(config).
  // Throws ConfigError now, not at generate(), when the config cannot be used.
  DDIMPipeline(std::shared_ptr<UNet> unet, const std::string& scheduler_config_json);

  // Throws UsageError for bad options (naming the value), SchedulerError.
  GenerateResult generate(const GenerateOptions& options = {});

  // num_images images in micro-batches, handing each finished batch to on_batch (images are not
  // kept). Throws UsageError for bad options before the first batch runs.
  BatchedGenerateResult generate_batches(const BatchedGenerateOptions& options, const BatchCallback& on_batch);
  // How many batches such a run has: ceil(num_images / batch_size).
  static int64_t batch_count(int64_t num_images, int64_t batch_size);

  UNet& unet() { return *unet_; }
  // Decode through `vae` (a latent model; nullptr: pixel space). ConfigError when the VAE's latent
  // channels or size are not the UNet's sample. from_pretrained sets the folder's.
  void set_vae(std::shared_ptr<VAE> vae);
  VAE* vae() { return vae_.get(); }
  // The scheduler every generate() starts from (its config: scheduler().config_json()).
  const DDIMScheduler& scheduler() const { return *scheduler_; }

 private:
  std::shared_ptr<UNet> unet_;
  std::shared_ptr<const DDIMScheduler> scheduler_;
  std::shared_ptr<VAE> vae_;
};

// Reads <model_dir>/scheduler/scheduler_config.json. Throws IOError naming the file. For a
// StableDiffusionPipeline folder (model_index.json's _class_name) it applies that pipeline's
// constructor rewrite of an outdated config, with a warning each: steps_offset to 1, clip_sample to
// false, so the folder samples as StableDiffusionPipeline.from_pretrained does.
DDIM_API std::string read_scheduler_config(const std::filesystem::path& model_dir);

// Throws ConfigError unless `vae` (when not null) turns the UNet's samples into images: latent
// channels equal to the UNet's in_channels, latent size equal to its sample size.
DDIM_API void check_vae_fits(const UNet& unet, const VAE* vae);

// A seed from std::random_device: a high and a low 32-bit draw.
DDIM_API uint64_t random_seed();

}  // namespace ddim
