#include "ddim/warnings.h"

#include <iostream>
#include <mutex>
#include <utility>

namespace ddim {
namespace {

std::mutex& handler_mutex() {
  static std::mutex m;
  return m;
}

WarningHandler& current_handler() {
  static WarningHandler handler = [](const std::string& message) { std::cerr << "ddim: warning: " << message << '\n'; };
  return handler;
}

}  // namespace

WarningHandler set_warning_handler(WarningHandler handler) {
  std::lock_guard<std::mutex> lock(handler_mutex());
  return std::exchange(current_handler(), std::move(handler));
}

void warn(const std::string& message) {
  WarningHandler handler;
  {
    std::lock_guard<std::mutex> lock(handler_mutex());
    handler = current_handler();
  }
  if (handler) handler(message);
}

}  // namespace ddim
