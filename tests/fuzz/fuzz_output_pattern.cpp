// libFuzzer harness: -o output name patterns (ddim-generate's printf-like names). A pattern is
// either refused with one line or expands, without handing it to printf, to distinct names.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "ddim/runs/output_names.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string pattern(reinterpret_cast<const char*>(data), size);
  ddim::fuzz::expect_only_ddim_errors([&] {
    ddim::check_output_pattern(pattern);
    for (int64_t count : {1, 3}) {
      const auto names = ddim::output_names(pattern, count);
      const std::set<std::string> distinct(names.begin(), names.end());
      if (static_cast<int64_t>(distinct.size()) != count) {
        ddim::fuzz::finding("pattern '" + pattern + "' gives " + std::to_string(distinct.size()) +
                            " distinct names for " + std::to_string(count) + " images");
      }
    }
  });
  return 0;
}
