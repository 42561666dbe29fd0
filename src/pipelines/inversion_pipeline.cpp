#include "ddim/pipelines/inversion_pipeline.h"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "ddim/schedulers/scheduler.h"
#include "pipelines/denoising_loop.h"

namespace ddim {
namespace {

const char* inverse_class(InverseScheduler kind) {
  return kind == InverseScheduler::kDDIM ? "DDIMInverseScheduler" : "DPMSolverMultistepInverseScheduler";
}

const char* forward_class(InverseScheduler kind) {
  return kind == InverseScheduler::kDDIM ? "DDIMScheduler" : "DPMSolverMultistepScheduler";
}

}  // namespace

InversionPipeline InversionPipeline::from_pretrained(const std::filesystem::path& model_dir, torch::Device device,
                                                     torch::ScalarType dtype, InverseScheduler scheduler) {
  std::shared_ptr<UNet> unet = load_unet(model_dir, device, dtype);
  return InversionPipeline(std::move(unet), read_scheduler_config(model_dir), scheduler);
}

InversionPipeline::InversionPipeline(std::shared_ptr<UNet> unet, std::string scheduler_config_json,
                                     InverseScheduler scheduler)
    : unet_(std::move(unet)), scheduler_config_(std::move(scheduler_config_json)), kind_(scheduler) {
  // Both schedulers from the model's config, as X.from_config(pipe.scheduler.config): refused now if unusable.
  scheduler_from_config(scheduler_config_, inverse_class(kind_));
  scheduler_from_config(scheduler_config_, forward_class(kind_));
}

torch::Tensor InversionPipeline::invert(const torch::Tensor& images, const InvertOptions& options) {
  c10::InferenceMode guard;
  const auto& cfg = unet_->config();
  if (images.dim() != 4 || images.size(1) != cfg.sample_height || images.size(2) != cfg.sample_width ||
      images.size(3) != cfg.in_channels) {
    std::ostringstream msg;
    msg << "images of shape " << images.sizes() << " do not fit the model: expected [B, " << cfg.sample_height << ", "
        << cfg.sample_width << ", " << cfg.in_channels << "]";
    throw std::invalid_argument(msg.str());
  }
  auto inverse = scheduler_from_config(scheduler_config_, inverse_class(kind_));
  const auto x = images.permute({0, 3, 1, 2}).contiguous().to(unet_->device(), unet_->dtype()) * 2 - 1;
  const auto loop = detail::denoising_loop(*inverse, *unet_, x, options.num_inference_steps, {}, options.callback);
  return loop.cancelled ? torch::Tensor() : loop.sample;
}

Reconstruction InversionPipeline::reconstruct(const torch::Tensor& latents, const InvertOptions& options,
                                              const torch::Tensor& originals) {
  c10::InferenceMode guard;
  const auto& cfg = unet_->config();
  const std::vector<int64_t> expected{latents.dim() == 4 ? latents.size(0) : -1, cfg.in_channels, cfg.sample_height,
                                      cfg.sample_width};
  if (latents.dim() != 4 || latents.sizes() != at::IntArrayRef(expected)) {
    std::ostringstream msg;
    msg << "latents of shape " << latents.sizes() << " do not fit the model: expected [B, " << cfg.in_channels << ", "
        << cfg.sample_height << ", " << cfg.sample_width << "]";
    throw std::invalid_argument(msg.str());
  }
  auto forward = scheduler_from_config(scheduler_config_, forward_class(kind_));
  const auto loop = detail::denoising_loop(*forward, *unet_, latents.to(unet_->device(), unet_->dtype()),
                                           options.num_inference_steps, {}, options.callback);
  Reconstruction result;
  result.cancelled = loop.cancelled;
  if (loop.cancelled) return result;
  result.images = detail::decode_images(loop.sample);
  if (originals.defined()) {
    if (originals.sizes() != result.images.sizes()) {
      std::ostringstream msg;
      msg << "originals of shape " << originals.sizes() << " differ from the reconstruction's "
          << result.images.sizes();
      throw std::invalid_argument(msg.str());
    }
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
