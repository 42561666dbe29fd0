#pragma once

#include <stdexcept>
#include <string>

namespace ddim {

// A file that cannot be read, decoded or written; the message names the file and the reason.
class IOError : public std::runtime_error {
 public:
  explicit IOError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace ddim
