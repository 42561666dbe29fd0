#pragma once

// Inversion with each step solved by fixed-point iteration (AIDI, Pan et al., arXiv:2309.04907;
// ReNoise, Garibi et al., arXiv:2403.14602). An inverse step from x_s to x_t evaluates the UNet
// at x_s, where sampling will evaluate it at x_t; the step is redone with the UNet evaluated at
// the previous result,
//   x_t^(j+1) = inverse.step(unet(x_t^(j), t), t, x_s),   x_t^(0) = inverse.step(unet(x_s, t), t, x_s)
// until the result moves less than the tolerance or the iterations are spent. At the fixed point
// the forward DDIM step from x_t returns x_s exactly (without clipping); for DPM-Solver the
// multistep history keeps it approximate. Any inverse scheduler: its state before the step is kept
// (clone) and each refinement steps a fresh copy of it.

#include <torch/torch.h>

#include <cstdint>

#include "ddim/models/unet.h"
#include "ddim/pipelines/inversion_pipeline.h"
#include "ddim/schedulers/scheduler.h"

namespace ddim::detail {

class FixedPointInversion {
 public:
  FixedPointInversion(const Scheduler& inverse, int64_t iterations, double tolerance)
      : inverse_(inverse), iterations_(iterations), tolerance_(tolerance) {}

  // Samples x0 [B, C, H, W] -> {"latents": x_T}.
  Inversion invert(UNet& unet, const torch::Tensor& x0, int64_t steps, const StepCallback& callback) const;

 private:
  const Scheduler& inverse_;
  int64_t iterations_;
  double tolerance_;
};

}  // namespace ddim::detail
