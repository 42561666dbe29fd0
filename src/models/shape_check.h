#pragma once

// The one check of a tensor's shape against what the model takes, and its message.

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ddim::detail {

// Throws UsageError "<what> of shape [..]: the model takes [B, 3, 32, 32]" unless
// `tensor` has expected.size() dimensions of the expected sizes; -1 matches any size (shown as B).
void check_shape(const torch::Tensor& tensor, const std::vector<int64_t>& expected, const std::string& what);

}  // namespace ddim::detail
