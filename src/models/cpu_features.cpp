#include "models/cpu_features.h"

#include <fstream>
#include <set>
#include <sstream>

namespace ddim::detail {
namespace {

// The "flags" line of the first processor in /proc/cpuinfo (x86; every core reports the same).
std::set<std::string> cpu_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream words(line.substr(colon + 1));
    std::set<std::string> flags;
    for (std::string word; words >> word;) flags.insert(word);
    return flags;
  }
  return {};
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

}  // namespace ddim::detail
