#include "models/model_folder.h"

#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include "ddim/errors.h"
#include "ddim/io/files.h"
#include "io/json_values.h"

namespace ddim::detail {

nlohmann::json read_json(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) throw ConfigError("cannot read " + path.string() + ": no such file");
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception&) {
    throw ConfigError(path.string() + " is not valid JSON");
  }
}

UNetConfig read_unet_config(const std::filesystem::path& unet_dir) {
  const auto path = unet_dir / "config.json";
  const auto config = read_json(path);
  UNetConfig result;
  const auto whole = [&](const nlohmann::json& object, const char* key, std::size_t index, int64_t& out) {
    const nlohmann::json* value = object.is_object() && object.contains(key) ? &object.at(key) : nullptr;
    if (value && value->is_array()) value = index < value->size() ? &value->at(index) : nullptr;
    const auto number = value ? json_int64(*value) : std::nullopt;
    if (!number || *number <= 0) {
      throw ConfigError(path.string() + ": " + key + " is " + (value ? json_excerpt(*value) : "missing") +
                        ", expected a positive integer");
    }
    out = *number;
  };
  whole(config, "in_channels", 0, result.in_channels);
  whole(config, "out_channels", 0, result.out_channels);
  whole(config, "sample_size", 0, result.sample_height);
  whole(config, "sample_size", 1, result.sample_width);
  if (config.contains("sample_size") && !config.at("sample_size").is_array())
    result.sample_width = result.sample_height;
  read_conditioning(unet_dir.parent_path() / "ddim_export.json", result);
  return result;
}

void read_conditioning(const std::filesystem::path& export_json, UNetConfig& config) {
  // Folders exported before conditioning existed have no "inputs": unconditional UNet2DModels.
  if (!std::filesystem::exists(export_json)) return;
  const auto meta = read_json(export_json);
  if (!meta.is_object() || !meta.contains("inputs")) return;
  const auto bad = [&](const std::string& key, const nlohmann::json& value, const std::string& expected) {
    return ConfigError(export_json.string() + ": " + key + " is " + json_excerpt(value) + ", expected " + expected +
                       "; re-export the model with scripts/export_unet.py");
  };
  const auto& inputs = meta.at("inputs");
  const std::vector<std::vector<std::string>> known = {{"sample", "timestep"},
                                                       {"sample", "timestep", "class_labels"},
                                                       {"sample", "timestep", "encoder_hidden_states"},
                                                       {"sample", "timestep", "encoder_hidden_states", "class_labels"}};
  std::vector<std::string> names;
  if (inputs.is_array()) {
    for (const auto& name : inputs) names.push_back(name.is_string() ? name.get<std::string>() : "");
  }
  if (std::find(known.begin(), known.end(), names) == known.end()) {
    throw bad("inputs", inputs, "sample, timestep, then encoder_hidden_states and/or class_labels");
  }
  config.inputs = names;
  const auto conditioning = meta.value("conditioning", nlohmann::json::object());
  const auto positive = [&](const nlohmann::json& object, const std::string& key, const std::string& where) {
    const auto* value = object.is_object() && object.contains(key) ? &object.at(key) : nullptr;
    const auto number = value ? json_int64(*value) : std::nullopt;
    if (!number || *number <= 0) throw bad(where + "." + key, value ? *value : nlohmann::json(), "a positive integer");
    return *number;
  };
  const bool labels = std::find(names.begin(), names.end(), "class_labels") != names.end();
  const bool states = std::find(names.begin(), names.end(), "encoder_hidden_states") != names.end();
  if (labels) {
    const auto record = conditioning.value("class_labels", nlohmann::json::object());
    config.num_class_embeds = positive(record, "num_class_embeds", "conditioning.class_labels");
    if (record.contains("null_class") && !record.at("null_class").is_null()) {
      const auto null_class = json_int64(record.at("null_class"));
      if (!null_class || *null_class < 0 || *null_class >= config.num_class_embeds) {
        throw bad("conditioning.class_labels.null_class", record.at("null_class"),
                  "a label below num_class_embeds " + std::to_string(config.num_class_embeds));
      }
      config.null_class = *null_class;
    }
  }
  if (states) {
    const auto record = conditioning.value("encoder_hidden_states", nlohmann::json::object());
    config.encoder_sequence_length = positive(record, "sequence_length", "conditioning.encoder_hidden_states");
    config.cross_attention_dim = positive(record, "dim", "conditioning.encoder_hidden_states");
  }
  if (conditioning.contains("guidance_scale")) {
    const auto& scale = conditioning.at("guidance_scale");
    if (!scale.is_number() || !(scale.get<double>() >= 0))
      throw bad("conditioning.guidance_scale", scale, "a number >= 0");
    config.guidance_scale = scale.get<double>();
  }
}

std::vector<torch::Tensor> condition_inputs(const UNetConfig& config, const Condition& condition, torch::Device device,
                                            torch::ScalarType dtype) {
  const auto moved = condition.to(device, dtype);
  std::vector<torch::Tensor> tensors;
  for (size_t i = 2; i < config.inputs.size(); ++i) {
    const auto& tensor = config.inputs[i] == "class_labels" ? moved.class_labels : moved.encoder_hidden_states;
    tensors.push_back(tensor.contiguous());
  }
  return tensors;
}

std::string wrong_target_message(const std::filesystem::path& artifact, const std::string& exported_device,
                                 const std::string& exported_dtype, torch::Device device, torch::ScalarType dtype) {
  const std::string wanted_device = device.is_cuda() ? "cuda" : "cpu";
  return artifact.string() + " was exported for " + exported_device + " " + exported_dtype + ", not " + wanted_device +
         " " + dtype_name(dtype) + "; export it with scripts/export_unet.py SRC OUT --device " + wanted_device +
         " --dtype " + dtype_name(dtype);
}

VAEConfig read_vae_config(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "ddim_export.json";
  const auto meta = read_json(path);
  const auto& vae = meta.at("vae");
  const auto bad = [&](const std::string& key, const nlohmann::json* value, const std::string& expected) {
    return ConfigError(path.string() + ": vae " + key + " is " + (value ? json_excerpt(*value) : "missing") +
                       ", expected " + expected + "; re-export the model with scripts/export_model.py");
  };
  const auto field = [&](const char* key) -> const nlohmann::json* {
    return vae.is_object() && vae.contains(key) ? &vae.at(key) : nullptr;
  };
  const auto positive = [&](const char* key, std::size_t index = 0, bool array = false) {
    const nlohmann::json* value = field(key);
    const nlohmann::json* item = value;
    if (array) item = value && value->is_array() && index < value->size() ? &value->at(index) : nullptr;
    const auto number = item ? json_int64(*item) : std::nullopt;
    if (!number || *number <= 0)
      throw bad(key, value, array ? "[height, width] of positive integers" : "a positive integer");
    return *number;
  };
  VAEConfig config;
  const auto* component = field("component");
  const auto* class_name = field("class");
  if (!component || !component->is_string() || (*component != "vqvae" && *component != "vae"))
    throw bad("component", component, "\"vqvae\" or \"vae\"");
  if (!class_name || !class_name->is_string() || (*class_name != "VQModel" && *class_name != "AutoencoderKL"))
    throw bad("class", class_name, "\"VQModel\" or \"AutoencoderKL\"");
  config.component = component->get<std::string>();
  config.class_name = class_name->get<std::string>();
  const auto* scaling = field("scaling_factor");
  if (!scaling || !scaling->is_number() || !std::isfinite(scaling->get<double>()) || scaling->get<double>() <= 0)
    throw bad("scaling_factor", scaling, "a positive number");
  config.scaling_factor = scaling->get<double>();
  config.in_channels = positive("in_channels");
  config.out_channels = positive("out_channels");
  config.latent_channels = positive("latent_channels");
  config.downsampling_factor = positive("downsampling_factor");
  config.image_height = positive("image_size", 0, true);
  config.image_width = positive("image_size", 1, true);
  if (config.image_height % config.downsampling_factor || config.image_width % config.downsampling_factor)
    throw bad("image_size", field("image_size"), "multiples of the downsampling factor");
  check_vae_config_json(model_dir / config.component / "config.json", path, config);
  return config;
}

// The export writes <component>/config.json with the values it records; a user who edits one of
// them there (the diffusers habit) would otherwise be silently ignored: the record rules, and any
// disagreement is refused naming both files.
void check_vae_config_json(const std::filesystem::path& config_path, const std::filesystem::path& record_path,
                           const VAEConfig& recorded) {
  const auto where = config_path.string();
  if (!std::filesystem::is_regular_file(config_path)) {
    throw ConfigError("cannot read " + where +
                      " (the VAE's config, written by the export); re-export the model "
                      "with scripts/export_model.py");
  }
  const auto config = nlohmann::json::parse(read_file(config_path), nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) {
    throw ConfigError(where + " is not a JSON object (damaged?); re-export the model with scripts/export_model.py");
  }
  const auto disagree = [&](const char* key, const std::string& recorded_value) {
    return ConfigError(where + ": " + key + " is " + json_excerpt(config.at(key)) + ", but " + record_path.string() +
                       " records " + recorded_value +
                       " (the export's record rules; change a VAE setting by "
                       "re-exporting with scripts/export_model.py, e.g. --vae-scaling-factor)");
  };
  if (config.contains("scaling_factor")) {
    const auto& value = config.at("scaling_factor");
    if (!value.is_number() || value.get<double>() != recorded.scaling_factor) {
      throw disagree("scaling_factor", number_text(recorded.scaling_factor));
    }
  }
  for (const auto& [key, value] :
       {std::pair{"latent_channels", recorded.latent_channels}, std::pair{"in_channels", recorded.in_channels},
        std::pair{"out_channels", recorded.out_channels}}) {
    if (config.contains(key) && json_int64(config.at(key)) != value) throw disagree(key, std::to_string(value));
  }
}

std::string first_sentence(const std::exception& error) {
  std::string what = error.what();
  what = what.substr(0, what.find('\n'));
  return what.substr(0, what.find(". "));
}

std::unordered_map<std::string, std::string> read_package_metadata(const std::filesystem::path& package,
                                                                   const std::string& model,
                                                                   const std::string& reexport) {
  try {
    return torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(package.string(), model);
  } catch (const std::exception& e) {
    throw ConfigError("cannot read " + package.string() +
                      " (damaged or not an AOTInductor package): " + first_sentence(e) + reexport);
  }
}

std::string metadata_field(const std::unordered_map<std::string, std::string>& metadata, const std::string& key) {
  const auto it = metadata.find(key);
  return it == metadata.end() ? std::string() : it->second;
}

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words) out += (out.empty() ? "" : " ") + word;
  return out;
}

std::string libtorch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

}  // namespace ddim::detail
