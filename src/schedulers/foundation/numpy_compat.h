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

// np.log of a float32 array. On x86-64 with AVX2 and FMA (or AVX-512F) numpy computes it with its
// own vector code, not libm: a rational approximation of degree 5/5 that differs from the
// correctly rounded logarithm by up to 3.83 ulp. diffusers' _sigma_to_t compares against such a
// table, so the timesteps it places depend on those roundings; elsewhere numpy calls logf.
float log_float32(float x);

// Whether log_float32 follows numpy's vector code on this CPU (false: logf).
bool log_float32_uses_vector_code();

}  // namespace ddim::numpy
