#include "models/cpu_features.h"

#include <fstream>
#include <set>
#include <sstream>

namespace ddim::detail {
namespace {

// The value of the first /proc/cpuinfo line whose key is `key` (x86: every core reports the same).
std::string cpuinfo_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos || line.rfind(key, 0) != 0) continue;
    const auto name_end = line.find_last_not_of(" \t", colon - 1);
    if (name_end == std::string::npos || line.substr(0, name_end + 1) != key) continue;
    const auto value = line.find_first_not_of(" \t", colon + 1);
    return value == std::string::npos ? std::string() : line.substr(value);
  }
  return {};
}

// The extensions whose presence changes which dtype is faster (scripts/export_unet.py lists the same).
const char* const kDtypeSpeedFeatures[] = {"avx2",        "fma",      "avx512f",  "avx512_bf16",
                                           "avx512_fp16", "amx_tile", "amx_bf16", "amx_fp16"};

std::set<std::string> cpu_flags() {
  std::istringstream words(cpuinfo_field("flags"));
  std::set<std::string> flags;
  for (std::string word; words >> word;) flags.insert(word);
  return flags;
}

}  // namespace

std::vector<std::string> missing_cpu_features(const std::vector<std::string>& required) {
  static const std::set<std::string> flags = cpu_flags();
  std::vector<std::string> missing;
  for (const auto& feature : required) {
    if (!flags.count(feature)) missing.push_back(feature);
  }
  return missing;
}

std::string cpu_model_name() {
  static const std::string name = cpuinfo_field("model name");
  return name;
}

std::string cpu_identity() {
  static const std::string identity = [] {
    std::string line =
        cpu_model_name() + "; family " + cpuinfo_field("cpu family") + " model " + cpuinfo_field("model") + ";";
    const auto flags = cpu_flags();
    std::set<std::string> present;  // sorted, as the Python side sorts them
    for (const char* feature : kDtypeSpeedFeatures) {
      if (flags.count(feature)) present.insert(feature);
    }
    for (const auto& feature : present) line += " " + feature;
    return line;
  }();
  return identity;
}

}  // namespace ddim::detail
