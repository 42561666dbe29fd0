#include "ddim/pipelines/ddim_pipeline.h"

#include <ATen/CPUGeneratorImpl.h>

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "ddim/config_error.h"
#include "ddim/schedulers/scheduler.h"
#include "pipelines/denoising_loop.h"
#include "schedulers/scheduler_math.h"

namespace ddim {

std::string read_scheduler_config(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "scheduler" / "scheduler_config.json";
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

DDIMPipeline DDIMPipeline::from_pretrained(const std::filesystem::path& model_dir, torch::Device device,
                                           torch::ScalarType dtype) {
  std::shared_ptr<UNet> unet = load_unet(model_dir, device, dtype);
  return DDIMPipeline(std::move(unet), read_scheduler_config(model_dir));
}

DDIMPipeline::DDIMPipeline(std::shared_ptr<UNet> unet, std::string scheduler_config_json)
    : unet_(std::move(unet)), scheduler_config_(std::move(scheduler_config_json)) {
  scheduler_from_config(scheduler_config_, "DDIMScheduler");  // refuse a bad config now, not at generate()
}

GenerateResult DDIMPipeline::generate(const GenerateOptions& options) {
  c10::InferenceMode guard;
  if (options.batch_size < 1) {
    throw std::invalid_argument("batch_size " + std::to_string(options.batch_size) + " must be >= 1");
  }
  const auto& cfg = unet_->config();
  const std::vector<int64_t> shape{options.batch_size, cfg.in_channels, cfg.sample_height, cfg.sample_width};
  // DDIMPipeline.__init__: DDIMScheduler.from_config(scheduler.config)
  auto scheduler = scheduler_from_config(scheduler_config_, "DDIMScheduler");

  GenerateResult result;
  std::optional<at::Generator> generator = options.generator;
  if (!generator) {
    result.seed = options.seed ? *options.seed : std::random_device{}() * uint64_t{4294967296} + std::random_device{}();
    generator = at::make_generator<at::CPUGeneratorImpl>(*result.seed);
  }
  torch::Tensor latents;
  if (options.latents) {
    if (options.latents->sizes() != at::IntArrayRef(shape)) {
      std::ostringstream msg;
      msg << "latents of shape " << options.latents->sizes() << " do not fit the model: expected "
          << at::IntArrayRef(shape);
      throw std::invalid_argument(msg.str());
    }
    latents = options.latents->to(unet_->device(), unet_->dtype());
  } else {
    latents = detail::randn_tensor(shape, generator, unet_->device(), unet_->dtype(), "DDIMPipeline");
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

torch::Tensor images_to_uint8(const torch::Tensor& images) { return (images * 255).round().to(torch::kUInt8); }

}  // namespace ddim
