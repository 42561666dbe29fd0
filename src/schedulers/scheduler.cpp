#include "ddim/schedulers/scheduler.h"

#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "ddim/config_error.h"
#include "ddim/schedulers/ddim_inverse_scheduler.h"
#include "ddim/schedulers/ddim_scheduler.h"
#include "ddim/schedulers/dpm_solver_multistep_inverse_scheduler.h"
#include "ddim/schedulers/dpm_solver_multistep_scheduler.h"
#include "ddim/warnings.h"
#include "schedulers/config_io.h"

namespace ddim {
namespace {

using Factory = std::function<std::unique_ptr<Scheduler>(config::Reader&)>;

template <class S, class Config>
std::unique_ptr<Scheduler> build(config::Reader& reader,
                                 const std::function<void(config::Reader&, Config&)>& extra = {}) {
  Config cfg;
  cfg.visit_fields(reader);
  if (extra) extra(reader, cfg);
  return std::make_unique<S>(cfg);
}

const std::map<std::string, Factory>& factories() {
  static const std::map<std::string, Factory> table{
      {"DDIMScheduler", [](config::Reader& r) { return build<DDIMScheduler, DDIMSchedulerConfig>(r); }},
      {"DDIMInverseScheduler",
       [](config::Reader& r) {
         return build<DDIMInverseScheduler, DDIMInverseSchedulerConfig>(
             r, [](config::Reader& reader, DDIMInverseSchedulerConfig& cfg) {
               // Deprecated alias that diffusers still reads from the config.
               bool set_alpha_to_zero = false;
               if (reader.find("set_alpha_to_zero") && !reader.find("set_alpha_to_zero")->is_null()) {
                 reader("set_alpha_to_zero", set_alpha_to_zero);
                 warn("DDIMInverseScheduler: set_alpha_to_zero is deprecated; read as set_alpha_to_one");
                 cfg.set_alpha_to_one = set_alpha_to_zero;
               }
             });
       }},
      {"DPMSolverMultistepScheduler",
       [](config::Reader& r) {
         return build<DPMSolverMultistepScheduler, DPMSolverMultistepSchedulerConfig>(
             r, [](config::Reader& reader, DPMSolverMultistepSchedulerConfig& cfg) {
               // diffusers rewrites "deis" to dpmsolver++ but checks final_sigmas_type against "deis".
               const auto* algo = reader.find("algorithm_type");
               if (algo && algo->is_string() && algo->get<std::string>() == "deis" &&
                   cfg.final_sigmas_type == FinalSigmasType::kZero) {
                 reader.fail("algorithm_type", *algo,
                             "final_sigmas_type sigma_min with \"deis\" (diffusers refuses zero)");
               }
             });
       }},
      {"DPMSolverMultistepInverseScheduler",
       [](config::Reader& r) {
         return build<DPMSolverMultistepInverseScheduler, DPMSolverMultistepInverseSchedulerConfig>(r);
       }},
  };
  return table;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read scheduler config " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

torch::Tensor Scheduler::scale_model_input(const torch::Tensor& sample, int64_t /*timestep*/) const { return sample; }

int Scheduler::order() const { return 1; }

double Scheduler::init_noise_sigma() const { return 1.0; }

void Scheduler::save_pretrained(const std::filesystem::path& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create folder " + dir.string() + ": " + ec.message());
  const auto target = dir / "scheduler_config.json";
  const auto temp = dir / ".scheduler_config.json.tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << config_json();
    out.close();
    if (!out) {
      std::filesystem::remove(temp, ec);
      throw std::runtime_error("cannot write " + target.string());
    }
  }
  std::filesystem::rename(temp, target, ec);
  if (ec) {
    std::filesystem::remove(temp, ec);
    throw std::runtime_error("cannot write " + target.string() + ": " + ec.message());
  }
}

std::vector<std::string> scheduler_class_names() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : factories()) names.push_back(name);
  return names;
}

std::unique_ptr<Scheduler> scheduler_from_config(const std::string& json, const std::string& class_name) {
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

  config::Reader reader(config, target);
  auto scheduler = factory->second(reader);

  std::string unknown;
  for (const auto& [key, value] : config.items()) {
    if (!reader.used().count(key) && !config::known_foreign_keys().count(key)) {
      unknown += (unknown.empty() ? "" : ", ") + key;
    }
  }
  if (!unknown.empty()) warn(target + " config: ignoring unknown keys " + unknown + " (as diffusers does)");
  return scheduler;
}

std::unique_ptr<Scheduler> scheduler_from_pretrained(const std::filesystem::path& path, const std::string& class_name) {
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
    return scheduler_from_config(read_file(file), class_name);
  } catch (const ConfigError& e) {
    throw ConfigError(file.string() + ": " + e.what());
  }
}

std::string to_string(PredictionType value) { return config::enum_name(value); }
std::string to_string(TimestepSpacing value) { return config::enum_name(value); }

}  // namespace ddim
