#include "io/json_values.h"

#include <limits>

namespace ddim::detail {

std::optional<int64_t> json_int64(const nlohmann::json& j) {
  if (j.is_number_unsigned()) {
    const auto value = j.get<uint64_t>();
    if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(value);
  }
  if (j.is_number_integer()) return j.get<int64_t>();
  return std::nullopt;
}

std::string json_excerpt(const nlohmann::json& j, std::size_t limit) {
  // ASCII only (so the cut splits no character); control characters are escaped.
  std::string text = j.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (text.size() > limit) text = text.substr(0, limit > 3 ? limit - 3 : 0) + "...";
  return text;
}

}  // namespace ddim::detail
