#include "schedulers/foundation/numpy_compat.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "ddim/errors.h"

namespace ddim::numpy {

std::vector<double> linspace(double start, double stop, int64_t num) {
  if (num < 0) throw SchedulerError("linspace: num " + std::to_string(num) + " must be >= 0");
  std::vector<double> y(static_cast<size_t>(num));
  const int64_t div = num - 1;
  const double delta = stop - start;
  if (div > 0) {
    const double step = delta / static_cast<double>(div);
    for (int64_t i = 0; i < num; ++i) {
      const double fi = static_cast<double>(i);
      y[static_cast<size_t>(i)] = (step == 0 ? (fi / static_cast<double>(div)) * delta : fi * step) + start;
    }
    y.back() = stop;
  } else if (num == 1) {
    y[0] = 0.0 * delta + start;
  }
  return y;
}

std::vector<double> arange(double start, double stop, double step) {
  if (step == 0) throw SchedulerError("arange: step must not be 0");
  const double len_f = std::ceil((stop - start) / step);
  const int64_t len = len_f > 0 ? static_cast<int64_t>(len_f) : 0;
  std::vector<double> y(static_cast<size_t>(len));
  if (len == 0) return y;
  y[0] = start;
  if (len == 1) return y;
  y[1] = start + step;
  const double delta = y[1] - y[0];
  for (int64_t i = 2; i < len; ++i) y[static_cast<size_t>(i)] = start + static_cast<double>(i) * delta;
  return y;
}

double round(double x) { return std::nearbyint(x); }

bool log_float32_uses_vector_code() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  // numpy's dispatch: the AVX2 + FMA3 or AVX-512F build of the float32 log loop.
  static const bool vector =
      (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) || __builtin_cpu_supports("avx512f");
  return vector;
#else
  return false;
#endif
}

namespace {

// log(1 + t) ~ P(t) / Q(t) on [sqrt(1/2) - 1, sqrt(2) - 1]: the minimax coefficients of numpy's
// float32 log (numpy/_core/src/umath/npy_simd_data.h), rounded to float32 as its vector code
// loads them.
constexpr float kLogP[6] = {0.0f,
                            9.999999999999998702752e-01f,
                            2.112677543073053063722e+00f,
                            1.480000633576506585156e+00f,
                            3.808837741388407920751e-01f,
                            2.589979117907922693523e-02f};
constexpr float kLogQ[6] = {1.0f,
                            2.612677543073109236779e+00f,
                            2.453006071784736363091e+00f,
                            9.864942958519418960339e-01f,
                            1.546476374983906719538e-01f,
                            5.875095403124574342950e-03f};

// Horner's rule with a fused multiply-add per degree, as the vector code evaluates it.
float horner_fma(const float (&c)[6], float t) {
  float acc = std::fma(c[5], t, c[4]);
  for (int k = 3; k >= 0; --k) acc = std::fma(acc, t, c[k]);
  return acc;
}

}  // namespace

float log_float32(float x) {
  if (!log_float32_uses_vector_code()) return std::log(x);
  if (std::isnan(x)) return std::numeric_limits<float>::quiet_NaN();
  if (x < 0) return -std::numeric_limits<float>::quiet_NaN();
  if (x == 0) return -std::numeric_limits<float>::infinity();
  if (std::isinf(x)) return x;
  // x = m * 2^e with m in [0.5, 1); a subnormal is scaled by 2^100 first and e corrected after.
  float correction = 0.0f;
  if (x < FLT_MIN) {
    x *= 0x1p100f;
    correction = 100.0f;
  }
  std::uint32_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  float e = static_cast<float>(static_cast<std::int32_t>(bits >> 23) - 126) - correction;
  bits = (bits & 0x7fffffU) | (126U << 23);
  float m = 0.0f;
  std::memcpy(&m, &bits, sizeof m);
  // Fold m into (sqrt(1/2), sqrt(2)].
  if (m <= 0.707106781186547524400844362104849039f) {
    m = m + m;
    e = e - 1.0f;
  }
  const float t = m - 1.0f;
  const float ratio = horner_fma(kLogP, t) / horner_fma(kLogQ, t);
  return std::fma(e, 0.693147180559945309417232121458176568f, ratio);
}

}  // namespace ddim::numpy
