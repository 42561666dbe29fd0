#pragma once

// Values read from JSON written by someone else. nlohmann's get<int64_t>() converts a
// floating or out-of-range number with a bare cast (undefined for 1e128), so every integer the
// library reads from a file goes through here.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace ddim::detail {

// The value when `j` is a JSON integer that fits int64_t; nothing for anything else (a string, a
// fraction, 2.0, or an integer past 2^63 - 1).
std::optional<int64_t> json_int64(const nlohmann::json& j);

// `j` as compact JSON for a one-line message, cut to at most `limit` characters ("..." at the end).
std::string json_excerpt(const nlohmann::json& j, std::size_t limit = 60);

}  // namespace ddim::detail
