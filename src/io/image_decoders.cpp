#include "io/image_decoders.h"

#include <jpeglib.h>
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "ddim/errors.h"

namespace ddim::detail {
namespace {

IOError too_large(const std::string& path, int64_t width, int64_t height, int64_t max_pixels) {
  return IOError("cannot read image " + path + ": it claims " + std::to_string(width) + "x" + std::to_string(height) +
                 " pixels, more than the limit of " + std::to_string(max_pixels));
}

// libjpeg reports errors through a callback that must not return: it longjmps back to
// decode_jpeg_raw, whose frames hold nothing with a destructor.
struct JpegError {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* error = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, error->message);
  std::longjmp(error->jump, 1);
}

// Warnings (corrupt data the decoder would paper over) are errors here: the pixels would not be the
// file's. Trace messages (level > 0) are ignored.
void jpeg_message(j_common_ptr cinfo, int level) {
  if (level < 0) jpeg_fail(cinfo);
}

enum class JpegStatus { kOk, kError, kTooLarge };

// C-style on purpose (see JpegError). On kOk, *pixels is malloc'ed and owned by the caller.
JpegStatus decode_jpeg_raw(const unsigned char* data, size_t size, int64_t max_pixels, unsigned char** pixels,
                           int* width, int* height, int* channels, char* message) {
  jpeg_decompress_struct cinfo;
  JpegError error;
  *pixels = nullptr;
  cinfo.err = jpeg_std_error(&error.base);
  error.base.error_exit = jpeg_fail;
  error.base.emit_message = jpeg_message;
  error.message[0] = '\0';
  if (setjmp(error.jump)) {
    std::free(*pixels);
    *pixels = nullptr;
    jpeg_destroy_decompress(&cinfo);
    std::snprintf(message, JMSG_LENGTH_MAX, "%s", error.message);
    return JpegStatus::kError;
  }
  jpeg_create_decompress(&cinfo);
  // libjpeg-turbo's own cap on the memory it allocates for its buffers.
  cinfo.mem->max_memory_to_use = 512L * 1024 * 1024;
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  *width = static_cast<int>(cinfo.image_width);
  *height = static_cast<int>(cinfo.image_height);
  if (static_cast<int64_t>(cinfo.image_width) * static_cast<int64_t>(cinfo.image_height) > max_pixels) {
    jpeg_destroy_decompress(&cinfo);
    return JpegStatus::kTooLarge;
  }
  cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  *channels = cinfo.output_components;
  const size_t row = static_cast<size_t>(cinfo.output_width) * static_cast<size_t>(cinfo.output_components);
  *pixels = static_cast<unsigned char*>(std::malloc(row * cinfo.output_height));
  if (!*pixels) {
    std::snprintf(message, JMSG_LENGTH_MAX, "out of memory");
    jpeg_destroy_decompress(&cinfo);
    return JpegStatus::kError;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW line = *pixels + row * cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, &line, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return JpegStatus::kOk;
}

}  // namespace

bool looks_like_png(const std::string& bytes) {
  static const char kSignature[] = "\x89PNG\r\n\x1a\n";
  return bytes.size() >= 8 && std::memcmp(bytes.data(), kSignature, 8) == 0;
}

bool looks_like_jpeg(const std::string& bytes) {
  return bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
         static_cast<unsigned char>(bytes[1]) == 0xD8 && static_cast<unsigned char>(bytes[2]) == 0xFF;
}

torch::Tensor decode_png(const std::string& bytes, const std::string& path, int64_t max_pixels) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) {
    throw IOError("cannot read image " + path + ": " + image.message);
  }
  if (static_cast<int64_t>(image.width) * static_cast<int64_t>(image.height) > max_pixels) {
    const int64_t width = image.width, height = image.height;
    png_image_free(&image);
    throw too_large(path, width, height, max_pixels);
  }
  // 8 bits per channel, keeping the file's gray/color and alpha.
  const bool color = (image.format & PNG_FORMAT_FLAG_COLOR) != 0;
  const bool alpha = (image.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  image.format = color ? (alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB) : (alpha ? PNG_FORMAT_GA : PNG_FORMAT_GRAY);
  const int64_t channels = PNG_IMAGE_PIXEL_CHANNELS(image.format);
  auto pixels =
      torch::empty({static_cast<int64_t>(image.height), static_cast<int64_t>(image.width), channels}, torch::kUInt8);
  if (!png_image_finish_read(&image, nullptr, pixels.data_ptr<uint8_t>(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    throw IOError("cannot read image " + path + ": " + message);
  }
  return pixels;
}

torch::Tensor decode_jpeg(const std::string& bytes, const std::string& path, int64_t max_pixels) {
  unsigned char* data = nullptr;
  int width = 0, height = 0, channels = 0;
  char message[JMSG_LENGTH_MAX] = {};
  const auto status = decode_jpeg_raw(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), max_pixels,
                                      &data, &width, &height, &channels, message);
  if (status == JpegStatus::kTooLarge) throw too_large(path, width, height, max_pixels);
  if (status == JpegStatus::kError) throw IOError("cannot read image " + path + ": " + message);
  auto pixels = torch::from_blob(data, {height, width, channels}, torch::kUInt8).clone();
  std::free(data);
  return pixels;
}

}  // namespace ddim::detail
