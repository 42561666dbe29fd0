#include "ddim/pipelines/ddim_pipeline.h"

#include <ATen/CPUGeneratorImpl.h>

#include <random>
#include <utility>

#include "ddim/errors.h"
#include "ddim/io/files.h"
#include "ddim/schedulers/scheduler_factory.h"
#include "models/shape_check.h"
#include "pipelines/denoising_loop.h"
#include "schedulers/foundation/scheduler_math.h"

namespace ddim {

std::string read_scheduler_config(const std::filesystem::path& model_dir) {
  return read_file(model_dir / "scheduler" / "scheduler_config.json");
}

uint64_t random_seed() {
  std::random_device rd;
  const uint64_t high = rd();
  return (high << 32) | rd();
}

DDIMPipeline DDIMPipeline::from_pretrained(const std::filesystem::path& model_dir, torch::Device device,
                                           torch::ScalarType dtype) {
  std::shared_ptr<UNet> unet = load_unet(model_dir, device, dtype);
  return DDIMPipeline(std::move(unet), read_scheduler_config(model_dir));
}

DDIMPipeline::DDIMPipeline(std::shared_ptr<UNet> unet, const DDIMScheduler& scheduler)
    : unet_(std::move(unet)), scheduler_(std::make_shared<const DDIMScheduler>(scheduler)) {}

// DDIMPipeline.__init__: DDIMScheduler.from_config(scheduler.config)
DDIMPipeline::DDIMPipeline(std::shared_ptr<UNet> unet, const std::string& scheduler_config_json)
    : unet_(std::move(unet)), scheduler_(scheduler_from_config_as<DDIMScheduler>(scheduler_config_json)) {}

GenerateResult DDIMPipeline::generate(const GenerateOptions& options) {
  c10::InferenceMode guard;
  if (options.batch_size < 1) {
    throw UsageError("batch_size " + std::to_string(options.batch_size) + " must be >= 1");
  }
  const auto& cfg = unet_->config();
  const std::vector<int64_t> shape{options.batch_size, cfg.in_channels, cfg.sample_height, cfg.sample_width};
  const auto scheduler = scheduler_->clone();

  GenerateResult result;
  std::optional<at::Generator> generator = options.generator;
  if (!generator) {
    result.seed = options.seed ? *options.seed : random_seed();
    generator = at::make_generator<at::CPUGeneratorImpl>(*result.seed);
  }
  torch::Tensor latents;
  if (options.latents) {
    detail::check_shape(*options.latents, shape, "latents");
    latents = options.latents->to(unet_->device(), detail::latent_dtype(*unet_));
  } else {
    latents = detail::randn_tensor(shape, generator, unet_->device(), detail::latent_dtype(*unet_), "DDIMPipeline");
  }
  result.initial_latents = latents;

  StepOptions step_options;
  step_options.eta = options.eta;
  step_options.use_clipped_model_output = options.use_clipped_model_output.value_or(false);
  step_options.generator = generator;
  const auto loop =
      detail::denoising_loop(*scheduler, *unet_, latents, options.num_inference_steps, step_options, options.callback);
  result.cancelled = loop.cancelled;
  result.steps_done = loop.steps_done;
  if (!loop.cancelled) result.images = detail::decode_images(loop.sample);
  return result;
}

}  // namespace ddim
