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

}  // namespace ddim::detail
