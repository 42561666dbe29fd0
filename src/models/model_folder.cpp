#include "models/model_folder.h"

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
  return result;
}

std::string wrong_target_message(const std::filesystem::path& artifact, const std::string& exported_device,
                                 const std::string& exported_dtype, torch::Device device, torch::ScalarType dtype) {
  const std::string wanted_device = device.is_cuda() ? "cuda" : "cpu";
  return artifact.string() + " was exported for " + exported_device + " " + exported_dtype + ", not " + wanted_device +
         " " + dtype_name(dtype) + "; export it with scripts/export_unet.py SRC OUT --device " + wanted_device +
         " --dtype " + dtype_name(dtype);
}

std::string first_sentence(const std::exception& error) {
  std::string what = error.what();
  what = what.substr(0, what.find('\n'));
  return what.substr(0, what.find(". "));
}

}  // namespace ddim::detail
