// libFuzzer harness: image bytes through the decoders read_image uses (PNG via libpng, JPEG via
// libjpeg-turbo), with the pixel cap checked before decoding. The cap is 1 MP here so that the
// fuzzer spends its time on parsing, not on decoding large valid images.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "io/image_decoders.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  constexpr int64_t kMaxPixels = 1 << 20;
  ddim::fuzz::expect_only_ddim_errors([&] {
    torch::Tensor image;
    if (ddim::detail::looks_like_png(bytes)) {
      image = ddim::detail::decode_png(bytes, "fuzz.png", kMaxPixels);
    } else if (ddim::detail::looks_like_jpeg(bytes)) {
      image = ddim::detail::decode_jpeg(bytes, "fuzz.jpg", kMaxPixels);
    } else {
      return;
    }
    if (image.dim() != 3 || image.size(0) * image.size(1) > kMaxPixels || image.size(2) < 1 || image.size(2) > 4 ||
        image.scalar_type() != torch::kUInt8) {
      ddim::fuzz::finding("decoded image of shape " + c10::str(image.sizes()) + " breaks the decoder's contract");
    }
  });
  return 0;
}
