#include "ddim/pipelines/slerp.h"

#include <algorithm>
#include <cmath>

#include "ddim/errors.h"

namespace ddim {

torch::Tensor slerp(const torch::Tensor& a, const torch::Tensor& b, double weight) {
  if (a.sizes() != b.sizes()) {
    throw UsageError("cannot interpolate latents of shape " + c10::str(a.sizes()) + " and " + c10::str(b.sizes()));
  }
  const auto x = a.to(torch::kFloat64), y = b.to(a.device(), torch::kFloat64);
  const double cosine = ((x * y).sum() / (x.norm() * y.norm())).item<double>();
  const double theta = std::acos(std::clamp(cosine, -1.0, 1.0));
  const double s = std::sin(theta);
  double ca = 1 - weight, cb = weight;
  if (s >= 1e-6) {
    ca = std::sin((1 - weight) * theta) / s;
    cb = std::sin(weight * theta) / s;
  }
  return (x * ca + y * cb).to(a.scalar_type());
}

}  // namespace ddim
