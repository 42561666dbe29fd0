// libFuzzer harness: latents-file bytes through ddim::load_tensors, the path ddim-generate --latents
// takes (safetensors parsed by ddim; torch.save zips checked by ddim, then LibTorch's unpickler).
// The bytes go through a file in a per-process temporary folder because load_tensor reads paths.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "ddim/io/tensor_file.h"
#include "fuzz_support.h"

namespace {

// Never destroyed, so that the exit handler that removes its folder can still read it.
const std::filesystem::path& scratch_file() {
  static const auto* path = [] {
    const char* tmp = std::getenv("TMPDIR");
    auto dir = std::filesystem::path(tmp ? tmp : "/tmp") / ("ddim-fuzz-latents-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    // Removed when libFuzzer ends the run normally (a crash leaves it beside the artifact).
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_file().parent_path(), ec);
    });
    return new std::filesystem::path(dir / "latents.pt");
  }();
  return *path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& path = scratch_file();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  ddim::fuzz::expect_only_ddim_errors([&] {
    // load_tensors: the reader of ddim-generate --latents (a tensor, or a dict of named tensors).
    for (const auto& [name, latents] : ddim::load_tensors(path)) {
      if (!latents.defined()) ddim::fuzz::finding("load_tensors returned an undefined tensor " + name);
      // Touch every element: a tensor whose storage is shorter than its shape claims shows here.
      (void)latents.to(torch::kDouble).sum().item<double>();
    }
  });
  return 0;
}
