#pragma once

#include <stdexcept>
#include <string>

namespace ddim {

// A scheduler (or model) configuration that cannot be used: malformed JSON, a key with the wrong
// type or an invalid value, an unknown class name, or a combination of options that diffusers
// itself cannot run. The message names the key and the value. Raised when the config is loaded.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace ddim
