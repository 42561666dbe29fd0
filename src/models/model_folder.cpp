#include "models/model_folder.h"

#include "ddim/errors.h"
#include "ddim/io/files.h"

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
  try {
    result.in_channels = config.at("in_channels").get<int64_t>();
    result.out_channels = config.at("out_channels").get<int64_t>();
    const auto& size = config.at("sample_size");
    if (size.is_array()) {
      result.sample_height = size.at(0).get<int64_t>();
      result.sample_width = size.at(1).get<int64_t>();
    } else {
      result.sample_height = result.sample_width = size.get<int64_t>();
    }
  } catch (const nlohmann::json::exception&) {
    throw ConfigError(path.string() + " lacks in_channels, out_channels or sample_size");
  }
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
