#pragma once

// The two image formats read_image accepts, each through a decoder that is maintained and
// continuously fuzzed upstream: PNG through libpng's simplified API, JPEG through libjpeg-turbo.
// Both check the header's pixel count against a cap before decoding anything.

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace ddim::detail {

// True when the bytes start with the PNG signature / a JPEG start-of-image marker.
bool looks_like_png(const std::string& bytes);
bool looks_like_jpeg(const std::string& bytes);

// Decode to [H, W, C] uint8 (C = 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA). Throw IOError naming
// `path` for a damaged file or one whose header claims more than max_pixels pixels.
torch::Tensor decode_png(const std::string& bytes, const std::string& path, int64_t max_pixels);
torch::Tensor decode_jpeg(const std::string& bytes, const std::string& path, int64_t max_pixels);

}  // namespace ddim::detail
