// Comma-separated flag values of the Google Benchmark programs in bench/ (--batches=1,16,
// --backends=aoti,torchscript).
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace bench {

inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

inline std::vector<int64_t> parse_batches(const std::string& text) {
  std::vector<int64_t> out;
  for (const auto& item : split_list(text)) out.push_back(std::stoll(item));
  return out;
}

}  // namespace bench
