#pragma once

#include <cstdint>
#include <string>

#include "ddim/models/unet.h"

namespace ddim::detail {

// UsageError naming the flag and its value when `images` images of this model cannot fit in the
// memory available now (estimated before anything is allocated). Under classifier-free guidance
// (`guided`) every UNet call runs on twice the rows.
void check_memory(int64_t images, const UNetConfig& config, const std::string& flag, bool guided = false);

}  // namespace ddim::detail
