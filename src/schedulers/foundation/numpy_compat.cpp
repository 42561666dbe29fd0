#include "schedulers/foundation/numpy_compat.h"

#include <cmath>
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

}  // namespace ddim::numpy
