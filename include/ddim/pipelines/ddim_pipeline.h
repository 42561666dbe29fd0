#pragma once

// DDIMPipeline: noise -> images with a UNet and a DDIMScheduler, as diffusers' DDIMPipeline.

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "ddim/models/unet.h"

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
  // seed (reported in GenerateResult::seed). A CPU generator draws on the CPU and moves the noise,
  // so CPU and CUDA runs start from the noise diffusers draws on the CPU.
  std::optional<uint64_t> seed;
  std::optional<at::Generator> generator;
  // Start from these latents [batch_size, C, H, W] instead of drawing them.
  std::optional<torch::Tensor> latents;
  StepCallback callback;
};

struct GenerateResult {
  // [B, H, W, C] float32 in [0, 1] on the CPU, as diffusers' output_type="np"; undefined if cancelled.
  torch::Tensor images;
  // The starting latents [B, C, H, W] (drawn or given).
  torch::Tensor initial_latents;
  // The seed the noise came from (unset when a generator was given).
  std::optional<uint64_t> seed;
  bool cancelled = false;
  int steps_done = 0;
};

class DDIMPipeline {
 public:
  // The model folder of scripts/export_unet.py; the scheduler is built from its scheduler config
  // as DDIMScheduler.from_config(pipe.scheduler.config). Throws ConfigError.
  static DDIMPipeline from_pretrained(const std::filesystem::path& model_dir, torch::Device device = torch::kCPU,
                                      torch::ScalarType dtype = torch::kFloat32);
  DDIMPipeline(std::shared_ptr<UNet> unet, std::string scheduler_config_json);

  // Throws std::invalid_argument for bad options (naming the value), SchedulerError, ConfigError.
  GenerateResult generate(const GenerateOptions& options = {});

  UNet& unet() { return *unet_; }
  const std::string& scheduler_config_json() const { return scheduler_config_; }

 private:
  std::shared_ptr<UNet> unet_;
  std::string scheduler_config_;
};

// diffusers' numpy_to_pil rounding: (images * 255).round() as uint8, same shape.
torch::Tensor images_to_uint8(const torch::Tensor& images);

// Reads <model_dir>/scheduler/scheduler_config.json. Throws ConfigError naming the file.
std::string read_scheduler_config(const std::filesystem::path& model_dir);

}  // namespace ddim
