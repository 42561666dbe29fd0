#include "schedulers/foundation/config_io.h"

#include <array>
#include <limits>
#include <sstream>

#include "io/json_values.h"

namespace ddim::config {
namespace {

// Non-finite numbers travel through nlohmann::json as these strings.
constexpr std::array<std::pair<const char*, const char*>, 3> kNonFinite{{
    {"-Infinity", "\x01-Infinity"},
    {"Infinity", "\x01Infinity"},
    {"NaN", "\x01NaN"},
}};

}  // namespace

std::string quote_non_finite(const std::string& text, bool as_markers) {
  std::string cleaned;
  cleaned.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      cleaned += c;
      if (c == '\\' && i + 1 < text.size()) {
        cleaned += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      cleaned += c;
      continue;
    }
    bool replaced = false;
    for (const auto& [token, marker] : kNonFinite) {
      const std::string t(token);
      if (text.compare(i, t.size(), t) == 0) {
        cleaned += nlohmann::json(std::string(as_markers ? marker : token)).dump();  // quoted and escaped
        i += t.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) cleaned += c;
  }
  return cleaned;
}

std::string unquote_non_finite(std::string text) {
  for (const auto& [token, marker] : kNonFinite) {
    const std::string quoted = nlohmann::json(std::string(token)).dump();
    for (size_t at = text.find(quoted); at != std::string::npos; at = text.find(quoted, at)) {
      text.replace(at, quoted.size(), token);
    }
  }
  return text;
}

nlohmann::json parse_json(const std::string& text, const std::string& source) {
  // Python's bare Infinity / -Infinity / NaN tokens (outside strings) become marker strings.
  const std::string cleaned = quote_non_finite(text, /*as_markers=*/true);
  try {
    return nlohmann::json::parse(cleaned);
  } catch (const nlohmann::json::exception& e) {  // a syntax error, or a number past double's range
    std::string what = e.what();
    throw ConfigError(source + " is not valid JSON: " + what.substr(what.find(']') + 2));
  }
}

std::optional<double> as_double(const nlohmann::json& value) {
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (s == kNonFinite[0].second) return -std::numeric_limits<double>::infinity();
    if (s == kNonFinite[1].second) return std::numeric_limits<double>::infinity();
    if (s == kNonFinite[2].second) return std::numeric_limits<double>::quiet_NaN();
  }
  return std::nullopt;
}

nlohmann::json from_double(double value) {
  if (std::isnan(value)) return kNonFinite[2].second;
  if (std::isinf(value)) return value < 0 ? kNonFinite[0].second : kNonFinite[1].second;
  return value;
}

std::string dump_json(const nlohmann::json& value) {
  std::string text = value.dump(2);
  for (const auto& [token, marker] : kNonFinite) {
    const std::string quoted = nlohmann::json(std::string(marker)).dump();  // the marker as dump() writes it
    for (size_t pos = text.find(quoted); pos != std::string::npos; pos = text.find(quoted, pos)) {
      text.replace(pos, quoted.size(), token);
    }
  }
  return text + "\n";
}

std::string show(const nlohmann::json& value) {
  if (value.is_string()) {
    for (const auto& [token, marker] : kNonFinite) {
      if (value.get_ref<const std::string&>() == marker) return token;
    }
  }
  return detail::json_excerpt(value);
}

void Reader::fail(const std::string& key, const nlohmann::json& value, const std::string& expected) const {
  throw ConfigError(class_name_ + " config: key '" + key + "' has value " + show(value) + ", expected " + expected);
}

void Reader::read(const std::string& key, const nlohmann::json& j, int64_t& out) const {
  const auto value = detail::json_int64(j);
  if (!value) fail(key, j, "an integer");
  out = *value;
}

void Reader::read(const std::string& key, const nlohmann::json& j, double& out) const {
  const auto d = as_double(j);
  if (!d) fail(key, j, "a number");
  out = *d;
}

void Reader::read(const std::string& key, const nlohmann::json& j, bool& out) const {
  if (!j.is_boolean()) fail(key, j, "true or false");
  out = j.get<bool>();
}

void Reader::read(const std::string& key, const nlohmann::json& j, std::optional<std::vector<double>>& out) const {
  if (j.is_null()) {
    out.reset();
    return;
  }
  if (!j.is_array()) fail(key, j, "null or a list of numbers");
  std::vector<double> values;
  values.reserve(j.size());
  for (const auto& item : j) {
    const auto d = as_double(item);
    if (!d) fail(key, j, "null or a list of numbers");
    values.push_back(*d);
  }
  out = std::move(values);
}

const std::set<std::string>& known_foreign_keys() {
  // Keys of diffusers schedulers whose configs are exchanged with these (KarrasDiffusionSchedulers).
  static const std::set<std::string> keys{"variance_type",
                                          "skip_prk_steps",
                                          "timestep_type",
                                          "interpolation_type",
                                          "sigma_min",
                                          "sigma_max",
                                          "sigma_data",
                                          "predict_x0",
                                          "disable_corrector",
                                          "solver_p",
                                          "use_dynamic_shifting",
                                          "time_shift_type",
                                          "final_sigmas_type",
                                          "use_lu_lambdas",
                                          "rescale_betas_zero_snr",
                                          "use_karras_sigmas",
                                          "use_exponential_sigmas",
                                          "use_beta_sigmas",
                                          "use_flow_sigmas",
                                          "flow_shift",
                                          "shift_terminal",
                                          "invert_sigmas",
                                          "noise_sampler_seed",
                                          "s_noise",
                                          "set_alpha_to_one",
                                          "set_alpha_to_zero",
                                          "steps_offset",
                                          "clip_sample",
                                          "clip_sample_range",
                                          "thresholding",
                                          "dynamic_thresholding_ratio",
                                          "sample_max_value",
                                          "solver_order",
                                          "algorithm_type",
                                          "solver_type",
                                          "lower_order_final",
                                          "euler_at_final",
                                          "lambda_min_clipped",
                                          "prediction_type",
                                          "timestep_spacing",
                                          "num_train_timesteps",
                                          "beta_start",
                                          "beta_end",
                                          "beta_schedule",
                                          "trained_betas",
                                          "rho",
                                          "sigma_schedule",
                                          "final_sigma_zero",
                                          "timestep_scaling",
                                          "original_inference_steps",
                                          "snr_shift_scale",
                                          "base_shift",
                                          "max_shift",
                                          "base_image_seq_len",
                                          "max_image_seq_len",
                                          "stochastic_sampling"};
  return keys;
}

}  // namespace ddim::config
