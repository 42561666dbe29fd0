#pragma once

#include <cstdint>
#include <string>

#include "ddim/models/unet.h"

namespace ddim::detail {

// UsageError naming the flag when `images` images of this model cannot fit in the memory available
// now (estimated before anything is allocated).
void check_memory(int64_t images, const UNetConfig& config, const std::string& flag);

}  // namespace ddim::detail
