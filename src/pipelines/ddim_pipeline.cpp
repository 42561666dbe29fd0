#include "ddim/pipelines/ddim_pipeline.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <utility>

#include "ddim/errors.h"
#include "ddim/io/files.h"
#include "ddim/schedulers/scheduler_factory.h"
#include "ddim/warnings.h"
#include "models/shape_check.h"
#include "pipelines/denoising_loop.h"
#include "pipelines/guided_unet.h"
#include "schedulers/foundation/scheduler_math.h"

namespace ddim {

std::string read_scheduler_config(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "scheduler" / "scheduler_config.json";
  auto text = read_file(path);
  // StableDiffusionPipeline's constructor rewrites two keys of an outdated config before it
  // samples (with a deprecation warning): steps_offset to 1, clip_sample to false. A folder of that
  // pipeline (model_index.json's _class_name) gets the same rewrite, so its images are the
  // pipeline's.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model_dir / "model_index.json", ec)) return text;
  const auto index = nlohmann::json::parse(read_file(model_dir / "model_index.json"), nullptr, false);
  if (!index.is_object() || index.value("_class_name", "") != "StableDiffusionPipeline") return text;
  auto config = nlohmann::json::parse(text, nullptr, false);
  if (!config.is_object()) return text;  // read (and refused by name) where the scheduler is built
  bool changed = false;
  if (config.contains("steps_offset") && config["steps_offset"] != 1) {
    warn(path.string() + ": steps_offset " + config["steps_offset"].dump() +
         " read as 1, as StableDiffusionPipeline rewrites an outdated config");
    config["steps_offset"] = 1;
    changed = true;
  }
  if (config.value("clip_sample", false) == true) {
    warn(path.string() + ": clip_sample true read as false, as StableDiffusionPipeline rewrites an outdated config");
    config["clip_sample"] = false;
    changed = true;
  }
  return changed ? config.dump() : text;
}

uint64_t random_seed() {
  std::random_device rd;
  const uint64_t high = rd();
  return (high << 32) | rd();
}

DDIMPipeline DDIMPipeline::from_pretrained(const std::filesystem::path& model_dir, torch::Device device,
                                           torch::ScalarType dtype) {
  std::shared_ptr<UNet> unet = load_unet(model_dir, device, dtype);
  DDIMPipeline pipe(std::move(unet), read_scheduler_config(model_dir));
  pipe.set_vae(load_vae(model_dir, device));
  return pipe;
}

void check_vae_fits(const UNet& unet, const VAE* vae) {
  if (!vae) return;
  const auto& u = unet.config();
  const auto& v = vae->config();
  if (v.latent_channels != u.in_channels || v.latent_height() != u.sample_height ||
      v.latent_width() != u.sample_width) {
    // The VAE's folder and the UNet's config in the same model folder: what to look at.
    const auto component = vae->file().parent_path();
    throw ConfigError(component.string() + ": the " + v.class_name + "'s latents [" +
                      std::to_string(v.latent_channels) + ", " + std::to_string(v.latent_height()) + ", " +
                      std::to_string(v.latent_width()) + "] do not match the UNet's input [" +
                      std::to_string(u.in_channels) + ", " + std::to_string(u.sample_height) + ", " +
                      std::to_string(u.sample_width) + "] (" +
                      (component.parent_path() / "unet" / "config.json").string() + ")");
  }
}

DDIMPipeline::DDIMPipeline(std::shared_ptr<UNet> unet, const DDIMScheduler& scheduler)
    : unet_(std::move(unet)), scheduler_(std::make_shared<const DDIMScheduler>(scheduler)) {}

// DDIMPipeline.__init__: DDIMScheduler.from_config(scheduler.config)
DDIMPipeline::DDIMPipeline(std::shared_ptr<UNet> unet, const std::string& scheduler_config_json)
    : unet_(std::move(unet)), scheduler_(scheduler_from_config_as<DDIMScheduler>(scheduler_config_json)) {}

void DDIMPipeline::set_vae(std::shared_ptr<VAE> vae) {
  check_vae_fits(*unet_, vae.get());
  vae_ = std::move(vae);
}

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
  detail::GuidedUNet guided(*unet_, options.guidance.resolved(cfg, options.batch_size));
  const auto loop =
      detail::denoising_loop(*scheduler, guided, latents, options.num_inference_steps, step_options, options.callback);
  result.cancelled = loop.cancelled;
  result.steps_done = loop.steps_done;
  if (!loop.cancelled) {
    result.latents = loop.sample;
    result.images = detail::decode_images(loop.sample, vae_.get());
  }
  return result;
}

int64_t DDIMPipeline::batch_count(int64_t num_images, int64_t batch_size) {
  if (num_images < 1) throw UsageError("num_images " + std::to_string(num_images) + " must be >= 1");
  if (batch_size < 1) throw UsageError("batch_size " + std::to_string(batch_size) + " must be >= 1");
  return (num_images + batch_size - 1) / batch_size;
}

BatchedGenerateResult DDIMPipeline::generate_batches(const BatchedGenerateOptions& options,
                                                     const BatchCallback& on_batch) {
  const int64_t batches = batch_count(options.num_images, options.batch_size);
  const int64_t batch_size = std::min(options.batch_size, options.num_images);
  if (options.shard_count < 1 || options.shard_index < 0 || options.shard_index >= options.shard_count) {
    throw UsageError("shard " + std::to_string(options.shard_index) + "/" + std::to_string(options.shard_count) +
                     ": need 0 <= index < count");
  }
  if (options.seed > std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(batches - 1)) {
    throw UsageError("seed " + std::to_string(options.seed) + " + " + std::to_string(batches - 1) +
                     " batches passes 2^64 - 1");
  }
  if (options.latents && (options.latents->dim() < 1 || options.latents->size(0) != options.num_images)) {
    throw UsageError("latents hold " + std::to_string(options.latents->dim() ? options.latents->size(0) : 0) +
                     " rows for num_images " + std::to_string(options.num_images));
  }
  {  // The whole run's condition, checked before the first batch: a batch-1 one at batch 1.
    const auto& guidance = options.guidance;
    const bool per_image = std::max(guidance.condition.batch_size(), guidance.negative_condition.batch_size()) > 1;
    const int64_t rows = per_image ? options.num_images : 1;
    guidance.for_images(0, rows, options.num_images).resolved(unet_->config(), rows);
  }
  BatchedGenerateResult run;
  for (int64_t k = options.shard_index; k < batches; k += options.shard_count) {
    if (options.skip && options.skip(k)) {
      ++run.batches_skipped;
      continue;
    }
    const int64_t first = k * batch_size;
    GenerateOptions batch;
    batch.batch_size = std::min(batch_size, options.num_images - first);
    batch.num_inference_steps = options.num_inference_steps;
    batch.eta = options.eta;
    batch.use_clipped_model_output = options.use_clipped_model_output;
    batch.seed = options.seed + static_cast<uint64_t>(k);
    if (options.latents) batch.latents = options.latents->narrow(0, first, batch.batch_size);
    batch.guidance = options.guidance.for_images(first, batch.batch_size, options.num_images);
    batch.callback = options.callback;
    const GenerateResult result = generate(batch);
    if (result.cancelled) {
      run.cancelled = true;
      return run;
    }
    ++run.batches_run;
    if (on_batch && !on_batch(k, first, result)) {
      run.cancelled = true;
      return run;
    }
  }
  return run;
}

}  // namespace ddim
