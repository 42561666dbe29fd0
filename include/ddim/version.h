#pragma once

#include <string>

#include "ddim/export.h"

namespace ddim {

// The library's version, "MAJOR.MINOR.PATCH", as the CMake project declares it.
DDIM_API std::string version();

// One line describing the build and the run time: ddim and LibTorch versions and how many CUDA
// devices are visible now (0 on a machine with no GPU or no driver; never an error).
DDIM_API std::string build_info();

}  // namespace ddim
