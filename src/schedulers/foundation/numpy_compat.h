#pragma once

// The few numpy routines diffusers uses to place timesteps, reproduced operation for operation in
// float64 so that every rounding lands where numpy's does.

#include <cstdint>
#include <vector>

namespace ddim::numpy {

// np.linspace(start, stop, num) with endpoint=True.
std::vector<double> linspace(double start, double stop, int64_t num);

// np.arange(start, stop, step) for floats: length ceil((stop - start) / step), values
// start + i * ((start + step) - start), as numpy's fill loop computes them.
std::vector<double> arange(double start, double stop, double step);

// np.round / np.rint: round half to even.
double round(double x);

}  // namespace ddim::numpy
