#pragma once

// Spherical linear interpolation between two latents, as the DDIM paper interpolates in latent
// space (arXiv:2010.02502, section 5.3; Shoemake 1985): each tensor taken as one vector,
// theta = angle(a, b),
//   slerp(a, b, w) = sin((1 - w) theta) / sin(theta) a + sin(w theta) / sin(theta) b.
// Gaussian latents keep their norm along the arc, which a straight line would shrink.

#include <torch/torch.h>

#include "ddim/export.h"

namespace ddim {

// Computed in float64 and returned in a's dtype on a's device; w = 0 gives a and w = 1 gives b
// bit for bit. Nearly parallel latents (sin theta < 1e-6) are interpolated linearly. Throws
// UsageError naming both shapes when they differ.
DDIM_API torch::Tensor slerp(const torch::Tensor& a, const torch::Tensor& b, double weight);

}  // namespace ddim
