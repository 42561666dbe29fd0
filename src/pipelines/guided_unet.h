#pragma once

// A UNet under a condition and classifier-free guidance (ddim::Guidance), seen by the loops as a
// plain UNet: forward(sample, t) is the guided noise prediction. Every loop (sampling, each
// inversion method, reconstruction) runs a GuidedUNet, so each takes the condition the same way.

#include <torch/torch.h>

#include "ddim/models/unet.h"
#include "ddim/pipelines/guidance.h"

namespace ddim::detail {

// diffusers' rescale_noise_cfg: noise_cfg rescaled towards the standard deviation of the
// conditional prediction (per image, over every other dimension), mixed by guidance_rescale.
torch::Tensor rescale_noise_cfg(const torch::Tensor& noise_cfg, const torch::Tensor& noise_pred_text,
                                double guidance_rescale);

class GuidedUNet : public UNet {
 public:
  // `guidance` as Guidance::resolved gives it for the batch the loop runs (a sample of another
  // batch is refused by the UNet's condition check).
  GuidedUNet(UNet& unet, Guidance guidance);

  // The UNet's output in the sample's dtype: one call on B rows under the condition, or under
  // guidance one call on 2B rows (negative first) combined as diffusers combines them.
  torch::Tensor forward(const torch::Tensor& sample, int64_t timestep) override;
  torch::Tensor forward(const torch::Tensor& sample, int64_t timestep, const Condition& condition) override;
  const UNetConfig& config() const override { return unet_.config(); }
  torch::Device device() const override { return unet_.device(); }
  torch::ScalarType dtype() const override { return unet_.dtype(); }

 private:
  UNet& unet_;
  Guidance guidance_;
  bool guided_;
  Condition both_;  // negative then positive, for the call on 2B rows
};

}  // namespace ddim::detail
