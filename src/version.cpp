#include "ddim/version.h"

#include <torch/cuda.h>
#include <torch/version.h>

#include <sstream>

#ifndef DDIM_VERSION_STRING
#error "DDIM_VERSION_STRING must be defined by the build"
#endif

namespace ddim {

std::string version() { return DDIM_VERSION_STRING; }

std::string build_info() {
  std::ostringstream out;
  out << "ddim " << version() << ", LibTorch " << TORCH_VERSION;
  out << ", CUDA devices: " << static_cast<int>(torch::cuda::device_count());
  return out.str();
}

}  // namespace ddim
