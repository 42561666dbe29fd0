#pragma once

// Builds a scheduler from a diffusers scheduler config (scheduler_config.json), as diffusers'
// X.from_config(config) does, optionally with KEY=VALUE overrides of its keys.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ddim/export.h"
#include "ddim/schedulers/scheduler.h"

namespace ddim {

// One override of a scheduler config key; value_json is the value as JSON text.
struct DDIM_API ConfigOverride {
  std::string key;
  std::string value_json;

  // "KEY=VALUE": VALUE is taken as JSON when it parses (1, 0.5, true, null, [..]), else as a string
  // (trailing, v_prediction). Throws UsageError naming the text when it has no KEY=.
  static ConfigOverride parse(const std::string& assignment);
};

// config_json() text (JSON as Python writes it, with bare Infinity, -Infinity and NaN, as
// DPM-Solver's lambda_min_clipped default is) as standard JSON, those numbers becoming the strings
// "Infinity", "-Infinity" and "NaN"; and the inverse, which scheduler_from_config reads.
DDIM_API std::string config_json_to_standard(const std::string& config_json);
DDIM_API std::string config_json_from_standard(const std::string& standard_json);

// The scheduler classes the factory builds.
DDIM_API std::vector<std::string> scheduler_class_names();

// Builds a scheduler from a diffusers scheduler config (JSON text). class_name "" = the config's
// own "_class_name"; otherwise that class is built from this config, as diffusers'
// X.from_config(other.config) does: keys the class does not take are ignored, missing keys take
// the class's defaults, keys listed in "_use_default_values" take the class's defaults too.
// `overrides` replace keys of the config first; each must be a key the class takes (UsageError
// naming it otherwise). Throws ConfigError naming the key and value when the config cannot be used.
DDIM_API std::unique_ptr<Scheduler> scheduler_from_config(const std::string& json, const std::string& class_name = "",
                                                          const std::vector<ConfigOverride>& overrides = {});
// The same from a file, or from a folder holding scheduler_config.json (or scheduler/scheduler_config.json).
DDIM_API std::unique_ptr<Scheduler> scheduler_from_pretrained(const std::filesystem::path& path,
                                                              const std::string& class_name = "",
                                                              const std::vector<ConfigOverride>& overrides = {});

// scheduler_from_config for a class known at compile time, typed:
//   auto ddim = ddim::scheduler_from_config_as<ddim::DDIMScheduler>(json);
template <class S>
std::unique_ptr<S> scheduler_from_config_as(const std::string& json,
                                            const std::vector<ConfigOverride>& overrides = {}) {
  // The factory builds exactly the class it is asked for.
  return std::unique_ptr<S>(static_cast<S*>(scheduler_from_config(json, S::kClassName, overrides).release()));
}

}  // namespace ddim
