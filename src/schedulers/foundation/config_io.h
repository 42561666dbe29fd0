#pragma once

// Reading and writing diffusers scheduler configs (scheduler_config.json) into the typed config
// structs, through their visit_fields(v) lists of (key, field).

#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ddim/errors.h"
#include "ddim/schedulers/config_enums.h"

namespace ddim::config {

// The diffusers names of each enum value, defined beside to_string in config_enums.cpp; the first
// name of a value is the one written, any further ones are aliases diffusers accepts and rewrites
// (e.g. algorithm_type "deis"). The argument only selects the enum.
template <class E>
using EnumNameList = std::vector<std::pair<E, const char*>>;
const EnumNameList<BetaSchedule>& enum_names(BetaSchedule);
const EnumNameList<PredictionType>& enum_names(PredictionType);
const EnumNameList<TimestepSpacing>& enum_names(TimestepSpacing);
const EnumNameList<DPMAlgorithmType>& enum_names(DPMAlgorithmType);
const EnumNameList<DPMSolverType>& enum_names(DPMSolverType);
const EnumNameList<FinalSigmasType>& enum_names(FinalSigmasType);
const EnumNameList<VarianceType>& enum_names(VarianceType);
const EnumNameList<TimeShiftType>& enum_names(TimeShiftType);

template <class E>
std::string enum_name(E value) {
  for (const auto& [v, name] : enum_names(E{})) {
    if (v == value) return name;
  }
  throw ConfigError("enum value " + std::to_string(static_cast<int>(value)) + " has no diffusers name");
}

template <class E>
std::optional<E> parse_enum(const std::string& name) {
  for (const auto& [v, n] : enum_names(E{})) {
    if (name == n) return v;
  }
  return std::nullopt;
}

template <class E>
std::string enum_choices() {
  std::string out;
  for (const auto& [v, name] : enum_names(E{})) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

// JSON text as Python's json module writes it: Infinity, -Infinity and NaN are accepted.
// Python's bare Infinity, -Infinity and NaN tokens (outside strings) as quoted strings: the
// internal markers parse_json reads back as numbers, or (as_markers false) the plain names.
std::string quote_non_finite(const std::string& text, bool as_markers);
// The plain names' strings back to bare tokens.
std::string unquote_non_finite(std::string text);
nlohmann::json parse_json(const std::string& text, const std::string& source);
// Sorted keys, two-space indent, non-finite numbers as Python writes them.
std::string dump_json(const nlohmann::json& value);
// A JSON number, with the non-finite values parse_json lets through.
std::optional<double> as_double(const nlohmann::json& value);
nlohmann::json from_double(double value);
std::string show(const nlohmann::json& value);

// Reads the config keys a struct visits from a JSON object; remembers which keys it took.
class Reader {
 public:
  Reader(const nlohmann::json& object, std::string class_name) : object_(object), class_name_(std::move(class_name)) {}

  template <class T>
  void operator()(const char* key, T& field) {
    const auto it = object_.find(key);
    used_.insert(key);
    if (it == object_.end()) return;
    read(key, *it, field);
  }

  const nlohmann::json* find(const std::string& key) const {
    const auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }
  const std::set<std::string>& used() const { return used_; }
  [[noreturn]] void fail(const std::string& key, const nlohmann::json& value, const std::string& expected) const;

 private:
  void read(const std::string& key, const nlohmann::json& j, int64_t& out) const;
  void read(const std::string& key, const nlohmann::json& j, double& out) const;
  void read(const std::string& key, const nlohmann::json& j, bool& out) const;
  void read(const std::string& key, const nlohmann::json& j, std::optional<std::vector<double>>& out) const;
  template <class E, class = std::enable_if_t<std::is_enum_v<E>>>
  void read(const std::string& key, const nlohmann::json& j, E& out) const {
    if (!j.is_string()) fail(key, j, "a string, one of " + enum_choices<E>());
    const auto parsed = parse_enum<E>(j.get<std::string>());
    if (!parsed) fail(key, j, "one of " + enum_choices<E>());
    out = *parsed;
  }
  template <class E>
  void read(const std::string& key, const nlohmann::json& j, std::optional<E>& out) const {
    if (j.is_null()) {
      out.reset();
      return;
    }
    E value{};
    read(key, j, value);
    out = value;
  }

  const nlohmann::json& object_;
  std::string class_name_;
  std::set<std::string> used_;
};

// Writes the keys a struct visits into a JSON object.
class Writer {
 public:
  nlohmann::json object = nlohmann::json::object();

  template <class T>
  void operator()(const char* key, const T& field) {
    object[key] = to_json(field);
  }

 private:
  static nlohmann::json to_json(int64_t v) { return v; }
  static nlohmann::json to_json(double v) { return from_double(v); }
  static nlohmann::json to_json(bool v) { return v; }
  static nlohmann::json to_json(const std::optional<std::vector<double>>& v) {
    if (!v) return nullptr;
    nlohmann::json arr = nlohmann::json::array();
    for (double x : *v) arr.push_back(from_double(x));
    return arr;
  }
  template <class E, class = std::enable_if_t<std::is_enum_v<E>>>
  static nlohmann::json to_json(E v) {
    return enum_name(v);
  }
  template <class E>
  static nlohmann::json to_json(const std::optional<E>& v) {
    if (!v) return nullptr;
    return to_json(*v);
  }
};

// config_json() of a scheduler: every visited key plus _class_name.
template <class Config>
std::string write(Config config, const std::string& class_name) {
  Writer writer;
  config.visit_fields(writer);
  writer.object["_class_name"] = class_name;
  return dump_json(writer.object);
}

// Keys any diffusers scheduler that shares configs with ours may carry: ignored without a
// warning, as diffusers ignores keys of its compatible classes.
const std::set<std::string>& known_foreign_keys();

}  // namespace ddim::config
