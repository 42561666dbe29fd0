#include "ddim/pipelines/inversion_pipeline.h"

#include <cmath>
#include <sstream>
#include <utility>

#include "ddim/errors.h"
#include "ddim/schedulers/ddim_inverse_scheduler.h"
#include "ddim/schedulers/ddim_scheduler.h"
#include "ddim/schedulers/dpm_solver_multistep_inverse_scheduler.h"
#include "ddim/schedulers/dpm_solver_multistep_scheduler.h"
#include "ddim/schedulers/scheduler_factory.h"
#include "models/shape_check.h"
#include "pipelines/denoising_loop.h"

namespace ddim {

const char* inverse_class_name(InverseScheduler kind) {
  return kind == InverseScheduler::kDDIM ? DDIMInverseScheduler::kClassName
                                         : DPMSolverMultistepInverseScheduler::kClassName;
}

const char* forward_class_name(InverseScheduler kind) {
  return kind == InverseScheduler::kDDIM ? DDIMScheduler::kClassName : DPMSolverMultistepScheduler::kClassName;
}

InversionPipeline InversionPipeline::from_pretrained(const std::filesystem::path& model_dir, torch::Device device,
                                                     torch::ScalarType dtype, InverseScheduler scheduler) {
  std::shared_ptr<UNet> unet = load_unet(model_dir, device, dtype);
  return InversionPipeline(std::move(unet), read_scheduler_config(model_dir), scheduler);
}

InversionPipeline::InversionPipeline(std::shared_ptr<UNet> unet, const std::string& scheduler_config_json,
                                     InverseScheduler scheduler)
    : unet_(std::move(unet)),
      inverse_(scheduler_from_config(scheduler_config_json, inverse_class_name(scheduler))),
      forward_(scheduler_from_config(scheduler_config_json, forward_class_name(scheduler))) {}

InversionPipeline::InversionPipeline(std::shared_ptr<UNet> unet, const Scheduler& inverse, const Scheduler& forward)
    : unet_(std::move(unet)), inverse_(inverse.clone()), forward_(forward.clone()) {}

torch::Tensor InversionPipeline::invert(const torch::Tensor& images, const InvertOptions& options) {
  c10::InferenceMode guard;
  const auto& cfg = unet_->config();
  detail::check_shape(images, {-1, cfg.sample_height, cfg.sample_width, cfg.in_channels}, "images");
  const auto inverse = inverse_->clone();
  const auto x = images.permute({0, 3, 1, 2}).contiguous().to(unet_->device(), detail::latent_dtype(*unet_)) * 2 - 1;
  const auto loop = detail::denoising_loop(*inverse, *unet_, x, options.num_inference_steps, {}, options.callback);
  return loop.cancelled ? torch::Tensor() : loop.sample;
}

Reconstruction InversionPipeline::reconstruct(const torch::Tensor& latents, const InvertOptions& options,
                                              const torch::Tensor& originals) {
  c10::InferenceMode guard;
  const auto& cfg = unet_->config();
  detail::check_shape(latents, {-1, cfg.in_channels, cfg.sample_height, cfg.sample_width}, "latents");
  const auto forward = forward_->clone();
  const auto loop = detail::denoising_loop(*forward, *unet_, latents.to(unet_->device(), detail::latent_dtype(*unet_)),
                                           options.num_inference_steps, {}, options.callback);
  Reconstruction result;
  result.cancelled = loop.cancelled;
  if (loop.cancelled) return result;
  result.images = detail::decode_images(loop.sample);
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
