#include "ddim/schedulers/scheduler_factory.h"

#include <functional>
#include <map>

#include "ddim/errors.h"
#include "ddim/io/files.h"
#include "ddim/schedulers/ddim_inverse_scheduler.h"
#include "ddim/schedulers/ddim_scheduler.h"
#include "ddim/schedulers/dpm_solver_multistep_inverse_scheduler.h"
#include "ddim/schedulers/dpm_solver_multistep_scheduler.h"
#include "ddim/warnings.h"
#include "schedulers/foundation/config_io.h"

namespace ddim {
namespace {

using Factory = std::function<std::unique_ptr<Scheduler>(config::Reader&)>;

// Reads S's config from the reader (then `extra` for keys diffusers treats specially) and builds S.
template <class S, class Config>
std::pair<std::string, Factory> entry(std::function<void(config::Reader&, Config&)> extra = {}) {
  return {S::kClassName, [extra](config::Reader& reader) -> std::unique_ptr<Scheduler> {
            Config cfg;
            cfg.visit_fields(reader);
            if (extra) extra(reader, cfg);
            return std::make_unique<S>(cfg);
          }};
}

const std::map<std::string, Factory>& factories() {
  static const std::map<std::string, Factory> table{
      entry<DDIMScheduler, DDIMSchedulerConfig>(),
      entry<DDIMInverseScheduler, DDIMInverseSchedulerConfig>(
          [](config::Reader& reader, DDIMInverseSchedulerConfig& cfg) {
            // Deprecated alias that diffusers still reads from the config.
            bool set_alpha_to_zero = false;
            if (reader.find("set_alpha_to_zero") && !reader.find("set_alpha_to_zero")->is_null()) {
              reader("set_alpha_to_zero", set_alpha_to_zero);
              warn("DDIMInverseScheduler: set_alpha_to_zero is deprecated; read as set_alpha_to_one");
              cfg.set_alpha_to_one = set_alpha_to_zero;
            }
          }),
      entry<DPMSolverMultistepScheduler, DPMSolverMultistepSchedulerConfig>([](config::Reader& reader,
                                                                               DPMSolverMultistepSchedulerConfig& cfg) {
        // diffusers rewrites "deis" to dpmsolver++ but checks final_sigmas_type against "deis".
        const auto* algo = reader.find("algorithm_type");
        if (algo && algo->is_string() && algo->get<std::string>() == "deis" &&
            cfg.final_sigmas_type == FinalSigmasType::kZero) {
          reader.fail("algorithm_type", *algo, "final_sigmas_type sigma_min with \"deis\" (diffusers refuses zero)");
        }
      }),
      entry<DPMSolverMultistepInverseScheduler, DPMSolverMultistepInverseSchedulerConfig>(),
  };
  return table;
}

}  // namespace

ConfigOverride ConfigOverride::parse(const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw UsageError("config override '" + assignment + "': expected KEY=VALUE");
  }
  const std::string text = assignment.substr(eq + 1);
  auto value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = text;
  return {assignment.substr(0, eq), value.dump()};
}

std::string config_json_to_standard(const std::string& config_json) {
  return config::quote_non_finite(config_json, /*as_markers=*/false);
}

std::string config_json_from_standard(const std::string& standard_json) {
  return config::unquote_non_finite(standard_json);
}

std::vector<std::string> scheduler_class_names() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : factories()) names.push_back(name);
  return names;
}

std::unique_ptr<Scheduler> scheduler_from_config(const std::string& json, const std::string& class_name,
                                                 const std::vector<ConfigOverride>& overrides) {
  auto object = config::parse_json(json, "scheduler config");
  if (!object.is_object()) throw ConfigError("scheduler config is not a JSON object");

  std::string target = class_name;
  if (target.empty()) {
    const auto it = object.find("_class_name");
    if (it == object.end() || !it->is_string()) {
      throw ConfigError("scheduler config has no \"_class_name\"; name the scheduler class to build");
    }
    target = it->get<std::string>();
  }
  const auto factory = factories().find(target);
  if (factory == factories().end()) {
    std::string known;
    for (const auto& name : scheduler_class_names()) known += (known.empty() ? "" : ", ") + name;
    throw ConfigError("unknown scheduler class \"" + target + "\" (known: " + known + ")");
  }

  // Keys saved as "defaults used" take the target class's defaults (diffusers extract_init_dict);
  // private keys (_class_name, _diffusers_version, ...) are not config.
  if (const auto it = object.find("_use_default_values"); it != object.end() && it->is_array()) {
    for (const auto& key : *it) {
      if (key.is_string()) object.erase(key.get<std::string>());
    }
  }
  nlohmann::json config = nlohmann::json::object();
  for (const auto& [key, value] : object.items()) {
    if (key.empty() || key[0] != '_') config[key] = value;
  }
  for (const auto& o : overrides) config[o.key] = config::parse_json(o.value_json, "override of " + o.key);

  config::Reader reader(config, target);
  auto scheduler = factory->second(reader);

  // The keys the class read are the keys it takes: an override of any other would do nothing.
  for (const auto& o : overrides) {
    if (!reader.used().count(o.key)) throw UsageError(target + " has no config key '" + o.key + "'");
  }
  std::string unknown;
  for (const auto& [key, value] : config.items()) {
    if (!reader.used().count(key) && !config::known_foreign_keys().count(key)) {
      unknown += (unknown.empty() ? "" : ", ") + key;
    }
  }
  if (!unknown.empty()) warn(target + " config: ignoring unknown keys " + unknown + " (as diffusers does)");
  return scheduler;
}

std::unique_ptr<Scheduler> scheduler_from_pretrained(const std::filesystem::path& path, const std::string& class_name,
                                                     const std::vector<ConfigOverride>& overrides) {
  std::filesystem::path file = path;
  if (std::filesystem::is_directory(path)) {
    file = path / "scheduler_config.json";
    if (!std::filesystem::exists(file) && std::filesystem::exists(path / "scheduler" / "scheduler_config.json")) {
      file = path / "scheduler" / "scheduler_config.json";
    }
  }
  if (!std::filesystem::is_regular_file(file)) {
    throw ConfigError("no scheduler config at " + path.string() + " (expected a scheduler_config.json)");
  }
  try {
    return scheduler_from_config(read_file(file), class_name, overrides);
  } catch (const ConfigError& e) {
    throw ConfigError(file.string() + ": " + e.what());
  }
}

}  // namespace ddim
