// A C entry point over ddim::numpy::log_float32 for tests/check_numpy_log.py, which loads it with
// ctypes and compares it with numpy's np.log bit for bit.
#include <cstdint>

#include "schedulers/foundation/numpy_compat.h"

extern "C" {

void ddim_log_float32(const float* in, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = ddim::numpy::log_float32(in[i]);
}

int ddim_log_float32_uses_vector_code() { return ddim::numpy::log_float32_uses_vector_code() ? 1 : 0; }
}
