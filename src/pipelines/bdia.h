#pragma once

// BDIA-DDIM, bi-directional integration approximation (Zhang, Lewis, Kleijn, arXiv:2307.10829):
// with the model evaluated once at z_i, the DDIM map from t_i down to t_{i-1} (D) and back up to
// t_{i+1} (U) give
//   z_{i-1} = gamma (z_{i+1} - U(z_i)) + D(z_i)
// (gamma = 0 is DDIM; 1 replaces the last step's forward integration by the backward one), and
// so z_{i+1} = (z_{i-1} - D(z_i)) / gamma + U(z_i) exactly. Sampling's first step, which has no
// z_{i+1}, is a DDIM step; inversion's first step, from the image alone, is a DDIM inversion step.
// A latents file holds the pair (z_N, z_{N-1}) so that sampling retraces the inversion exactly.

#include <torch/torch.h>

#include <cstdint>

#include "ddim/io/tensor_file.h"
#include "ddim/models/unet.h"
#include "ddim/pipelines/inversion_pipeline.h"
#include "pipelines/ddim_transfers.h"
#include "pipelines/denoising_loop.h"

namespace ddim::detail {

class BDIA {
 public:
  BDIA(const DDIMScheduler& scheduler, double gamma) : scheduler_(scheduler), gamma_(gamma) {}

  // Samples x0 [B, C, H, W] -> {"latents": z_N, "bdia_next": z_{N-1}, "bdia_gamma": gamma}; N >= 2.
  Inversion invert(UNet& unet, const torch::Tensor& x0, int64_t steps, const StepCallback& callback) const;
  // {"latents": z_N[, "bdia_next": z_{N-1}]} -> z_0; without "bdia_next" (sampling from noise) the
  // first step is DDIM's.
  LoopResult generate(UNet& unet, const NamedTensors& state, int64_t steps, const StepCallback& callback) const;

 private:
  // D(z) - gamma U(z) for step k given the model output m at z: what both directions add.
  torch::Tensor increment(const DDIMTransfers& ddim, int64_t k, const torch::Tensor& z, const torch::Tensor& m) const;

  const DDIMScheduler& scheduler_;
  double gamma_;
};

}  // namespace ddim::detail
