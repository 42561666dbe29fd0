#pragma once

// EDICT, Exact Diffusion Inversion via Coupled Transformations (Wallace, Gokul, Naik,
// arXiv:2211.12446): two sequences x, y, each DDIM-stepped with the model evaluated on the other,
// then mixed with weight p. Sampling step t -> t-1 with the DDIM map x' = cx x + cm m:
//   x_i = cx x + cm eps(y, t)          y_i = cx y + cm eps(x_i, t)
//   x'  = p x_i + (1 - p) y_i          y'  = p y_i + (1 - p) x'
// and inversion runs the four lines backwards, each solved for what it consumed. Two UNet calls
// per step; x is the image (the paper's code decodes either, they agree to the last bits).

#include <torch/torch.h>

#include <cstdint>

#include "ddim/io/tensor_file.h"
#include "ddim/models/unet.h"
#include "ddim/pipelines/inversion_pipeline.h"
#include "pipelines/ddim_transfers.h"
#include "pipelines/denoising_loop.h"

namespace ddim::detail {

class EDICT {
 public:
  EDICT(const DDIMScheduler& scheduler, double p) : scheduler_(scheduler), p_(p) {}

  // Samples x0 [B, C, H, W] (latent dtype, on the UNet's device) -> {"latents": x_T, "edict_y": y_T,
  // "edict_p": p}, starting from x = y = x0.
  Inversion invert(UNet& unet, const torch::Tensor& x0, int64_t steps, const StepCallback& callback) const;
  // {"latents": x_T[, "edict_y": y_T]} -> x_0; without "edict_y" (sampling from noise) y_T = x_T.
  LoopResult generate(UNet& unet, const NamedTensors& state, int64_t steps, const StepCallback& callback) const;

 private:
  const DDIMScheduler& scheduler_;
  double p_;
};

}  // namespace ddim::detail
