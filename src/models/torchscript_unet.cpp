#include "ddim/models/torchscript_unet.h"

#include <nlohmann/json.hpp>

#include "ddim/errors.h"
#include "ddim/io/files.h"
#include "models/shape_check.h"

namespace ddim {
namespace {

nlohmann::json read_json(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) throw ConfigError("cannot read " + path.string() + ": no such file");
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception&) {
    throw ConfigError(path.string() + " is not valid JSON");
  }
}

}  // namespace

TorchScriptUNet::TorchScriptUNet(const std::filesystem::path& model_dir, torch::Device device, torch::ScalarType dtype)
    : device_(device), dtype_(dtype) {
  if (!std::filesystem::is_directory(model_dir)) throw ConfigError("model folder " + model_dir.string() + " not found");
  const auto unet_dir = model_dir / "unet";
  const auto config = read_json(unet_dir / "config.json");
  try {
    config_.in_channels = config.at("in_channels").get<int64_t>();
    config_.out_channels = config.at("out_channels").get<int64_t>();
    const auto& size = config.at("sample_size");
    if (size.is_array()) {
      config_.sample_height = size.at(0).get<int64_t>();
      config_.sample_width = size.at(1).get<int64_t>();
    } else {
      config_.sample_height = config_.sample_width = size.get<int64_t>();
    }
  } catch (const nlohmann::json::exception&) {
    throw ConfigError((unet_dir / "config.json").string() + " lacks in_channels, out_channels or sample_size");
  }

  // The trace bakes in the device and dtype it was made on (tensor constants, casts).
  const auto meta_path = model_dir / "ddim_export.json";
  std::string exported_device = "cpu";
  std::string exported_dtype = "float32";
  if (std::filesystem::exists(meta_path)) {
    const auto meta = read_json(meta_path);
    exported_device = meta.value("device", exported_device);
    exported_dtype = meta.value("dtype", exported_dtype);
  }
  const std::string wanted_device = device.is_cuda() ? "cuda" : "cpu";
  if (exported_device != wanted_device || exported_dtype != dtype_name(dtype)) {
    throw ConfigError(model_dir.string() + " was exported for " + exported_device + " " + exported_dtype + ", not " +
                      wanted_device + " " + dtype_name(dtype) +
                      "; export it with scripts/export_unet.py SRC OUT --device " + wanted_device + " --dtype " +
                      dtype_name(dtype));
  }
  try {
    module_ = torch::jit::load((unet_dir / "model.pt").string(), device);
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    what = what.substr(0, what.find(". "));  // LibTorch's first sentence says what is wrong
    throw ConfigError("cannot load " + (unet_dir / "model.pt").string() + ": " + what);
  }
  module_.eval();
  // Freezing inlines the weights and attributes; build/bin/bench_unet measured 5.2 ms -> 4.2 ms per
  // forward (tiny model, batch 4, CPU). optimize_for_inference on top gained nothing and is not used.
  module_ = torch::jit::freeze(module_);
}

torch::Tensor TorchScriptUNet::forward(const torch::Tensor& sample, int64_t timestep) {
  detail::check_shape(sample, {-1, config_.in_channels, config_.sample_height, config_.sample_width}, "UNet: sample");
  const auto t = torch::full({sample.size(0)}, timestep, torch::dtype(torch::kInt64).device(device_));
  return module_.forward({sample.to(device_, dtype_), t}).toTensor();
}

}  // namespace ddim
