#pragma once

// The choice load_unet and load_vae make between a compiled AOTInductor package and the portable
// TorchScript trace of one model.

#include <filesystem>
#include <memory>
#include <string>

#include "ddim/errors.h"
#include "ddim/warnings.h"

namespace ddim::detail {

// make_package() when it loads; when it throws a ConfigError (a package for another machine or
// torch version) and the trace exists, make_trace(), warned with the package's reason and `trace`,
// the file run instead. When the trace does not load either, the package's reason is the one
// reported.
template <typename Model, typename MakePackage, typename MakeTrace>
std::unique_ptr<Model> package_or_trace(MakePackage make_package, MakeTrace make_trace,
                                        const std::filesystem::path& trace) {
  try {
    return make_package();
  } catch (const ConfigError& package_error) {
    if (!std::filesystem::exists(trace)) throw;
    std::unique_ptr<Model> fallback;
    try {
      fallback = make_trace();
    } catch (const ConfigError&) {
      throw package_error;
    }
    warn(std::string(package_error.what()) + "; running " + trace.string() + " (TorchScript) instead");
    return fallback;
  }
}

}  // namespace ddim::detail
