#include "ddim/pipelines/inversion_pipeline.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "ddim/errors.h"
#include "ddim/schedulers/ddim_inverse_scheduler.h"
#include "ddim/schedulers/ddim_scheduler.h"
#include "ddim/schedulers/dpm_solver_multistep_inverse_scheduler.h"
#include "ddim/schedulers/dpm_solver_multistep_scheduler.h"
#include "ddim/schedulers/scheduler_factory.h"
#include "ddim/warnings.h"
#include "models/shape_check.h"
#include "pipelines/bdia.h"
#include "pipelines/denoising_loop.h"
#include "pipelines/edict.h"
#include "pipelines/fixed_point_inversion.h"
#include "pipelines/guided_unet.h"

namespace ddim {

namespace {

// Checks that `latents` fit `method` (its entries, parameters and step count) and returns them on
// the model's device in the latent dtype.
NamedTensors checked_latents(const NamedTensors& latents, const InversionMethod& method, int64_t steps,
                             const UNet& unet) {
  const auto keys = method.latents_keys();
  const auto mine = [&](const std::string& key) { return std::find(keys.begin(), keys.end(), key) != keys.end(); };
  if (!latents.count("latents")) throw UsageError("the latents hold no entry 'latents'");
  const auto& cfg = unet.config();
  detail::check_shape(latents.at("latents"), {-1, cfg.in_channels, cfg.sample_height, cfg.sample_width}, "latents");
  NamedTensors out;
  for (const auto& [key, tensor] : latents) {
    if (!mine(key)) {
      for (const auto* other : {"edict", "bdia"}) {
        const auto their = InversionMethod::from_name(other).latents_keys();
        if (std::find(their.begin(), their.end(), key) != their.end()) {
          throw UsageError("the latents hold '" + key + "' of --method " + other + "; they cannot be decoded with " +
                           method.name());
        }
      }
      throw UsageError("the latents hold an entry '" + key + "' that --method " + method.name() + " does not use");
    }
    if (key == "edict_p" || key == "bdia_gamma" || key == "num_inference_steps") {
      if (tensor.numel() != 1) throw UsageError("the latents' '" + key + "' is not a single number");
      const double value = tensor.item<double>();
      const double expected = key == "edict_p"      ? method.edict_p
                              : key == "bdia_gamma" ? method.bdia_gamma
                                                    : static_cast<double>(steps);
      if (value != expected) {
        throw UsageError("the latents were made with " + key + " " + number_text(value) + ", not " +
                         number_text(expected) + ": " + method.name() + " retraces its inversion only with the same " +
                         (key == "num_inference_steps" ? "step count" : "parameter"));
      }
      continue;
    }
    if (key != "latents") detail::check_shape(tensor, latents.at("latents").sizes().vec(), key);
    out[key] = tensor.to(unet.device(), detail::latent_dtype(unet));
  }
  return out;
}

}  // namespace

InversionPipeline InversionPipeline::from_pretrained(const std::filesystem::path& model_dir, torch::Device device,
                                                     torch::ScalarType dtype, InverseScheduler scheduler) {
  InversionMethod method;
  method.kind = scheduler == InverseScheduler::kDDIM ? InversionMethod::Kind::kDDIM : InversionMethod::Kind::kDPMSolver;
  return from_pretrained(model_dir, device, dtype, method);
}

InversionPipeline InversionPipeline::from_pretrained(const std::filesystem::path& model_dir, torch::Device device,
                                                     torch::ScalarType dtype, const InversionMethod& method) {
  method.validate();
  std::shared_ptr<UNet> unet = load_unet(model_dir, device, dtype);
  InversionPipeline pipe(std::move(unet), read_scheduler_config(model_dir), method);
  pipe.set_vae(load_vae(model_dir, device));
  return pipe;
}

void InversionPipeline::set_vae(std::shared_ptr<VAE> vae) {
  check_vae_fits(*unet_, vae.get());
  vae_ = std::move(vae);
}

InversionPipeline::InversionPipeline(std::shared_ptr<UNet> unet, const std::string& scheduler_config_json,
                                     InverseScheduler scheduler)
    : InversionPipeline(std::move(unet), scheduler_config_json,
                        InversionMethod::from_name(scheduler == InverseScheduler::kDDIM ? "ddim" : "dpmsolver")) {}

InversionPipeline::InversionPipeline(std::shared_ptr<UNet> unet, const std::string& scheduler_config_json,
                                     const InversionMethod& method)
    : InversionPipeline(
          std::move(unet), *scheduler_from_config(scheduler_config_json, inverse_class_name(method.scheduler_pair())),
          *scheduler_from_config(scheduler_config_json, forward_class_name(method.scheduler_pair())), method) {}

InversionPipeline::InversionPipeline(std::shared_ptr<UNet> unet, const Scheduler& inverse, const Scheduler& forward,
                                     const InversionMethod& method)
    : unet_(std::move(unet)), inverse_(inverse.clone()), forward_(forward.clone()), method_(method) {
  method_.validate();
  const bool exact = method_.kind == InversionMethod::Kind::kEDICT || method_.kind == InversionMethod::Kind::kBDIA;
  if (exact && !dynamic_cast<const DDIMScheduler*>(forward_.get())) {
    throw ConfigError("--method " + method_.name() + " runs DDIM updates: its forward scheduler must be a " +
                      DDIMScheduler::kClassName + ", not " + forward_->class_name());
  }
  const auto* ddim_inverse = dynamic_cast<const DDIMInverseScheduler*>(inverse_.get());
  if (method_.kind == InversionMethod::Kind::kFixedPoint && ddim_inverse && ddim_inverse->config().clip_sample) {
    warn(
        "--method fixed-point with the scheduler config's clip_sample: the clipped step loses what it clips, so "
        "the iteration need not settle (--set clip_sample=false inverts far better)");
  }
  if (method_.kind == InversionMethod::Kind::kFixedPoint && !ddim_inverse) {
    warn("--method fixed-point on " + inverse_->class_name() +
         ": its multistep history keeps the refined step from being what the forward solver undoes; on the digits "
         "model it inverts worse than plain dpmsolver (bench/inversion_fidelity.py)");
  }
  if (exact) {
    const auto& config = static_cast<const DDIMScheduler&>(*forward_).config();
    if (config.clip_sample || config.thresholding) {
      warn("--method " + method_.name() + " does not use the scheduler config's " +
           (config.thresholding ? "thresholding" : "clip_sample") +
           ": an exact inverse exists only for the unclipped DDIM update");
    }
  }
}

namespace {

// Inversion and its reconstruction guide at 1 unless told otherwise, as pix2pix-zero's invert.
Guidance inversion_guidance(const InvertOptions& options) {
  Guidance guidance = options.guidance;
  if (!guidance.guidance_scale) guidance.guidance_scale = 1.0;
  return guidance;
}

}  // namespace

torch::Tensor InversionPipeline::invert(const torch::Tensor& images, const InvertOptions& options) {
  auto result = invert_latents(images, options);
  return result.cancelled ? torch::Tensor() : result.latents.at("latents");
}

Inversion InversionPipeline::invert_latents(const torch::Tensor& images, const InvertOptions& options) {
  c10::InferenceMode guard;
  const auto& cfg = unet_->config();
  torch::Tensor x;
  if (vae_) {
    const auto& v = vae_->config();
    detail::check_shape(images, {-1, v.image_height, v.image_width, v.in_channels}, "images");
    auto generator = at::make_generator<at::CPUGeneratorImpl>(options.encode_seed);
    const auto pixels = images.permute({0, 3, 1, 2}).contiguous().to(vae_->device(), torch::kFloat32) * 2 - 1;
    x = (vae_->encode(pixels, options.latent_distribution, generator) * v.scaling_factor)
            .to(unet_->device(), detail::latent_dtype(*unet_));
  } else {
    detail::check_shape(images, {-1, cfg.sample_height, cfg.sample_width, cfg.in_channels}, "images");
    x = images.permute({0, 3, 1, 2}).contiguous().to(unet_->device(), detail::latent_dtype(*unet_)) * 2 - 1;
  }
  const int64_t steps = options.num_inference_steps;
  detail::GuidedUNet guided(*unet_, inversion_guidance(options).resolved(cfg, x.size(0)));
  const auto steps_tensor = torch::tensor(steps, torch::kInt64);
  switch (method_.kind) {
    case InversionMethod::Kind::kEDICT: {
      auto result = detail::EDICT(static_cast<const DDIMScheduler&>(*forward_), method_.edict_p)
                        .invert(guided, x, steps, options.callback);
      if (!result.cancelled) result.latents["num_inference_steps"] = steps_tensor;
      return result;
    }
    case InversionMethod::Kind::kBDIA: {
      auto result = detail::BDIA(static_cast<const DDIMScheduler&>(*forward_), method_.bdia_gamma)
                        .invert(guided, x, steps, options.callback);
      if (!result.cancelled) result.latents["num_inference_steps"] = steps_tensor;
      return result;
    }
    case InversionMethod::Kind::kFixedPoint:
      return detail::FixedPointInversion(*inverse_, method_.iterations, method_.tolerance)
          .invert(guided, x, steps, options.callback);
    default: {
      const auto inverse = inverse_->clone();
      const auto loop = detail::denoising_loop(*inverse, guided, x, steps, {}, options.callback);
      Inversion result;
      result.unet_calls = loop.unet_calls;
      result.cancelled = loop.cancelled;
      if (!loop.cancelled) result.latents = {{"latents", loop.sample}};
      return result;
    }
  }
}

Reconstruction InversionPipeline::reconstruct(const torch::Tensor& latents, const InvertOptions& options,
                                              const torch::Tensor& originals) {
  return reconstruct(NamedTensors{{"latents", latents}}, options, originals);
}

Reconstruction InversionPipeline::reconstruct(const NamedTensors& latents, const InvertOptions& options,
                                              const torch::Tensor& originals) {
  c10::InferenceMode guard;
  const auto state = checked_latents(latents, method_, options.num_inference_steps, *unet_);
  const int64_t steps = options.num_inference_steps;
  detail::GuidedUNet guided(*unet_, inversion_guidance(options).resolved(unet_->config(), state.at("latents").size(0)));
  detail::LoopResult loop;
  if (method_.kind == InversionMethod::Kind::kEDICT) {
    loop = detail::EDICT(static_cast<const DDIMScheduler&>(*forward_), method_.edict_p)
               .generate(guided, state, steps, options.callback);
  } else if (method_.kind == InversionMethod::Kind::kBDIA) {
    loop = detail::BDIA(static_cast<const DDIMScheduler&>(*forward_), method_.bdia_gamma)
               .generate(guided, state, steps, options.callback);
  } else {
    const auto forward = forward_->clone();
    loop = detail::denoising_loop(*forward, guided, state.at("latents"), steps, {}, options.callback);
  }
  Reconstruction result;
  result.unet_calls = loop.unet_calls;
  result.cancelled = loop.cancelled;
  if (loop.cancelled) return result;
  result.latents = loop.sample;
  result.images = detail::decode_images(loop.sample, vae_.get());
  if (originals.defined()) {
    detail::check_shape(originals, result.images.sizes().vec(), "originals");
    const auto mse =
        (result.images.to(torch::kFloat64) - originals.to(torch::kCPU, torch::kFloat64)).pow(2).flatten(1).mean(1);
    for (int64_t i = 0; i < mse.size(0); ++i) {
      const double m = mse[i].item<double>();
      result.mse.push_back(m);
      result.psnr.push_back(m > 0 ? 10 * std::log10(1.0 / m) : INFINITY);
    }
  }
  return result;
}

}  // namespace ddim
