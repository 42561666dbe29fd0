#pragma once

// The CPU's instruction-set extensions, as the kernel names them in /proc/cpuinfo ("avx2",
// "avx512f", "amx_bf16", ...), and which of a package's required ones this machine lacks.

#include <string>
#include <vector>

namespace ddim::detail {

// The entries of `required` this CPU does not report, in their order. On a system without
// /proc/cpuinfo every entry is missing (nothing can be confirmed).
std::vector<std::string> missing_cpu_features(const std::vector<std::string>& required);

// The "model name" of the first processor in /proc/cpuinfo, as Python's and lscpu's readers give it;
// empty where there is none.
std::string cpu_model_name();

// What decides which dtype runs faster on this CPU, as one line: the model name, the family and model
// numbers, and which of the vector and matrix extensions of kDtypeSpeedFeatures it has, e.g.
// "AMD EPYC; family 25 model 17; avx2 avx512_bf16 avx512f fma". A model name alone does not tell
// CPUs apart: virtual machines report "AMD EPYC" for an AVX2-only Zen 1 and an AVX512-BF16 Zen 4.
// scripts/export_unet.py's cpu_identity() writes the same line into unet/dtype_auto.json.
std::string cpu_identity();

}  // namespace ddim::detail
