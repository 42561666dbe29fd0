#include "runs/memory_check.h"

#include <unistd.h>

#include <iomanip>
#include <sstream>

#include "ddim/errors.h"

namespace ddim::detail {

void check_memory(int64_t images, const UNetConfig& config, const std::string& flag, bool guided) {
  // Per image: the latents, the model output, the step's temporaries and the decoded image
  // (float32, about 16 copies of one sample), plus its names, sidecar and the UNet's activations,
  // which are at least 16 more samples for any UNet2DModel.
  const double sample_bytes =
      4.0 * static_cast<double>(config.in_channels * config.sample_height * config.sample_width);
  const double needed = static_cast<double>(guided ? 2 * images : images) * (32 * sample_bytes + 512);
  const long pages = sysconf(_SC_AVPHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return;
  const double available = static_cast<double>(pages) * static_cast<double>(page_size);
  if (needed > available) {
    std::ostringstream msg;
    msg << std::fixed << std::setprecision(1) << flag << " " << images
        << (guided ? " (twice the rows under guidance)" : "") << " needs about " << needed / 1e9
        << " GB at once, more than the " << available / 1e9 << " GB of memory available; use a smaller " << flag;
    throw UsageError(msg.str());
  }
}

}  // namespace ddim::detail
