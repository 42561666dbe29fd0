#include "models/shape_check.h"

#include <sstream>

#include "ddim/errors.h"

namespace ddim::detail {

void check_shape(const torch::Tensor& tensor, const std::vector<int64_t>& expected, const std::string& what) {
  bool fits = tensor.dim() == static_cast<int64_t>(expected.size());
  for (size_t i = 0; fits && i < expected.size(); ++i) {
    fits = expected[i] < 0 || tensor.size(static_cast<int64_t>(i)) == expected[i];
  }
  if (fits) return;
  std::ostringstream msg;
  msg << what << " of shape " << tensor.sizes() << ": the model takes [";
  for (size_t i = 0; i < expected.size(); ++i) {
    msg << (i ? ", " : "");
    if (expected[i] < 0) {
      msg << "B";
    } else {
      msg << expected[i];
    }
  }
  msg << "]";
  throw UsageError(msg.str());
}

}  // namespace ddim::detail
