#pragma once

#include <functional>
#include <string>

#include "ddim/export.h"

namespace ddim {

// Where the library's warnings go (for example unknown keys in a scheduler config, ignored as
// diffusers ignores them). The default handler writes "ddim: warning: <message>" to stderr.
using WarningHandler = std::function<void(const std::string& message)>;

// Installs a handler and returns the previous one; an empty handler silences warnings.
DDIM_API WarningHandler set_warning_handler(WarningHandler handler);

// Sends one warning to the current handler.
DDIM_API void warn(const std::string& message);

}  // namespace ddim
