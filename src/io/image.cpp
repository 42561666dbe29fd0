#include "ddim/io/image.h"

#include <cmath>
#include <sstream>
#include <string>

#include "ddim/errors.h"
#include "ddim/io/files.h"
#include "io/image_decoders.h"

// stb's writer and resizer, private to this file (images are decoded by libpng and libjpeg-turbo:
// see io/image_decoders.h).
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_STATIC
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wpedantic"
#endif
#include <stb/stb_image_resize.h>
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace ddim {

torch::Tensor read_image(const std::filesystem::path& path, int64_t max_pixels) {
  if (!std::filesystem::is_regular_file(path)) throw IOError("cannot read image " + path.string() + ": no such file");
  const auto bytes = read_file(path);
  torch::Tensor pixels;
  if (detail::looks_like_png(bytes)) {
    pixels = detail::decode_png(bytes, path.string(), max_pixels);
  } else if (detail::looks_like_jpeg(bytes)) {
    pixels = detail::decode_jpeg(bytes, path.string(), max_pixels);
  } else {
    throw IOError("cannot read image " + path.string() + ": not a PNG or JPEG file (the only formats read)");
  }
  return pixels.to(torch::kFloat32) / 255.0;
}

torch::Tensor convert_channels(const torch::Tensor& image, int64_t channels) {
  const int64_t c = image.size(2);
  if (c == channels) return image;
  auto color = c >= 3 ? image.slice(2, 0, 3) : image.slice(2, 0, 1);  // drop alpha
  if (channels == 1) {
    if (color.size(2) == 1) return color;
    const auto w = torch::tensor({0.299F, 0.587F, 0.114F});
    return (color * w).sum(2, true);
  }
  if (channels == 3 || channels == 4) {
    auto rgb = color.size(2) == 1 ? color.expand({-1, -1, 3}).contiguous() : color;
    if (channels == 3) return rgb;
    return torch::cat({rgb, torch::ones_like(rgb.slice(2, 0, 1))}, 2);
  }
  throw UsageError("cannot convert an image with " + std::to_string(c) + " channels to " + std::to_string(channels));
}

torch::Tensor resize_image(const torch::Tensor& image, int64_t height, int64_t width) {
  const auto in = image.to(torch::kFloat32).contiguous();
  auto out = torch::empty({height, width, in.size(2)}, torch::kFloat32);
  const int ok = stbir_resize_float(in.data_ptr<float>(), static_cast<int>(in.size(1)), static_cast<int>(in.size(0)), 0,
                                    out.data_ptr<float>(), static_cast<int>(width), static_cast<int>(height), 0,
                                    static_cast<int>(in.size(2)));
  if (!ok) {
    throw IOError("cannot resize a " + std::to_string(in.size(1)) + "x" + std::to_string(in.size(0)) + " image to " +
                  std::to_string(width) + "x" + std::to_string(height));
  }
  return out.clamp(0, 1);
}

torch::Tensor images_to_uint8(const torch::Tensor& images) {
  return (images.to(torch::kCPU, torch::kFloat32) * 255).round().clamp(0, 255).to(torch::kUInt8);
}

void write_png(const std::filesystem::path& path, const torch::Tensor& image) {
  if (image.dim() != 3 || image.size(2) < 1 || image.size(2) > 4) {
    std::ostringstream shape;
    shape << image.sizes();
    throw UsageError("cannot write " + path.string() + ": an image of shape " + shape.str() +
                     " is not [H, W, C] with C in 1..4");
  }
  const auto bytes =
      (image.scalar_type() == torch::kUInt8 ? image.to(torch::kCPU) : images_to_uint8(image)).contiguous();
  std::string png;
  const auto append = [](void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  const int w = static_cast<int>(bytes.size(1));
  const int h = static_cast<int>(bytes.size(0));
  const int c = static_cast<int>(bytes.size(2));
  if (!stbi_write_png_to_func(append, &png, w, h, c, bytes.data_ptr<uint8_t>(), w * c)) {
    throw IOError("cannot encode " + path.string() + " as PNG");
  }
  write_file_atomically(path, png);
}

torch::Tensor image_grid(const torch::Tensor& images, int64_t columns, int64_t gap) {
  if (images.dim() != 4 || images.size(0) < 1) {
    throw UsageError("image_grid: expected images [B, H, W, C] with B >= 1, got " + c10::str(images.sizes()));
  }
  if (gap < 0) throw UsageError("image_grid: gap " + std::to_string(gap) + " must be >= 0");
  const int64_t b = images.size(0);
  if (columns <= 0) columns = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(b))));
  const int64_t rows = (b + columns - 1) / columns;
  const int64_t h = images.size(1);
  const int64_t w = images.size(2);
  // Gutters in the brightest value (1 for float images in [0, 1], 255 for uint8).
  const double fill = images.scalar_type() == torch::kUInt8 ? 255.0 : 1.0;
  auto grid = torch::full({rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, images.size(3)}, fill,
                          images.options());
  for (int64_t i = 0; i < b; ++i) {
    const int64_t top = (i / columns) * (h + gap), left = (i % columns) * (w + gap);
    grid.slice(0, top, top + h).slice(1, left, left + w).copy_(images[i]);
  }
  return grid;
}

}  // namespace ddim
