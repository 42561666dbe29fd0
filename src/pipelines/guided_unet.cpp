#include "pipelines/guided_unet.h"

#include <utility>

#include "ddim/errors.h"

namespace ddim::detail {

torch::Tensor rescale_noise_cfg(const torch::Tensor& noise_cfg, const torch::Tensor& noise_pred_text,
                                double guidance_rescale) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < noise_pred_text.dim(); ++d) dims.push_back(d);
  const auto std_text = noise_pred_text.std(dims, /*unbiased=*/true, /*keepdim=*/true);
  const auto std_cfg = noise_cfg.std(dims, /*unbiased=*/true, /*keepdim=*/true);
  const auto noise_pred_rescaled = noise_cfg * (std_text / std_cfg);
  return guidance_rescale * noise_pred_rescaled + (1 - guidance_rescale) * noise_cfg;
}

GuidedUNet::GuidedUNet(UNet& unet, Guidance guidance)
    : unet_(unet), guidance_(std::move(guidance)), guided_(guidance_.enabled_for(unet.config())) {
  if (guided_) both_ = Condition::cat(guidance_.negative_condition, guidance_.condition);
}

torch::Tensor GuidedUNet::forward(const torch::Tensor& sample, int64_t timestep) {
  const int64_t batch = sample.size(0);
  if (!guided_) return unet_.forward(sample, timestep, guidance_.condition).to(sample.scalar_type());
  // StableDiffusionPipeline: torch.cat([latents] * 2), one call, then noise_pred.chunk(2).
  const auto output = unet_.forward(torch::cat({sample, sample}), timestep, both_).to(sample.scalar_type());
  const auto uncond = output.slice(0, 0, batch);
  const auto cond = output.slice(0, batch, 2 * batch);
  auto noise = uncond + *guidance_.guidance_scale * (cond - uncond);
  if (guidance_.guidance_rescale > 0) noise = rescale_noise_cfg(noise, cond, guidance_.guidance_rescale);
  return noise;
}

torch::Tensor GuidedUNet::forward(const torch::Tensor& sample, int64_t timestep, const Condition& condition) {
  if (!condition.empty()) throw UsageError("a guided UNet carries its own condition");
  return forward(sample, timestep);
}

}  // namespace ddim::detail
