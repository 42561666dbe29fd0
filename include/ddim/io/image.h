#pragma once

// Images in and out: PNG (libpng) and JPEG (libjpeg-turbo) in, PNG out (stb_image_write). Images
// are [H, W, C] float32 tensors in [0, 1] on the CPU.

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>

#include "ddim/export.h"

namespace ddim {

// The largest image read_image decodes by default: 64 megapixels, more than any camera photo.
constexpr int64_t kDefaultMaxImagePixels = int64_t{64} * 1000 * 1000;

// A PNG (8 or 16 bits, any color type, read as 8 bits) or JPEG (gray or color; CMYK refused) file,
// recognised by its first bytes, not its name: [H, W, C] with C = 1 (gray), 2 (gray + alpha),
// 3 (RGB) or 4 (RGBA). Throws IOError naming the file when it is missing, another format, damaged
// (a JPEG with corrupt data is refused, not patched over), or claims more than max_pixels pixels
// in its header (checked before anything is decoded).
DDIM_API torch::Tensor read_image(const std::filesystem::path& path, int64_t max_pixels = kDefaultMaxImagePixels);

// [H, W, C] -> [H, W, channels]: gray <-> RGB (ITU-R 601 luma for RGB -> gray), alpha dropped or
// added as 1. Throws UsageError for other channel counts.
DDIM_API torch::Tensor convert_channels(const torch::Tensor& image, int64_t channels);

// Resizes with stb_image_resize's defaults: Catmull-Rom when enlarging, Mitchell when shrinking.
DDIM_API torch::Tensor resize_image(const torch::Tensor& image, int64_t height, int64_t width);

// diffusers' numpy_to_pil rounding: (images * 255).round() as uint8 (clamped to [0, 255]), same shape.
DDIM_API torch::Tensor images_to_uint8(const torch::Tensor& images);

// Writes [H, W, C] (C = 1, 3 or 4; float in [0, 1] through images_to_uint8, or uint8) as an 8-bit
// PNG through a temporary file and a rename. Throws IOError naming the file, UsageError for
// another shape.
DDIM_API void write_png(const std::filesystem::path& path, const torch::Tensor& image);

// [B, H, W, C] -> one image of rows x columns cells (columns = ceil(sqrt(B)) when 0), `gap` pixels
// of white (1, or 255 for uint8) between cells: [rows * H + (rows - 1) * gap, columns * W + (columns
// - 1) * gap, C]. Throws UsageError for another shape or a negative gap.
DDIM_API torch::Tensor image_grid(const torch::Tensor& images, int64_t columns = 0, int64_t gap = 0);

}  // namespace ddim
