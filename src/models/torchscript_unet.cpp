#include "ddim/models/torchscript_unet.h"

#include "ddim/errors.h"
#include "models/model_folder.h"
#include "models/shape_check.h"

namespace ddim {

TorchScriptUNet::TorchScriptUNet(const std::filesystem::path& model_dir, torch::Device device, torch::ScalarType dtype)
    : device_(device), dtype_(dtype) {
  if (!std::filesystem::is_directory(model_dir)) throw ConfigError("model folder " + model_dir.string() + " not found");
  const auto unet_dir = model_dir / "unet";
  config_ = detail::read_unet_config(unet_dir);

  // The trace bakes in the device and dtype it was made on (tensor constants, casts).
  const auto meta_path = model_dir / "ddim_export.json";
  std::string exported_device = "cpu";
  std::string exported_dtype = "float32";
  if (std::filesystem::exists(meta_path)) {
    const auto meta = detail::read_json(meta_path);
    exported_device = meta.value("device", exported_device);
    exported_dtype = meta.value("dtype", exported_dtype);
  }
  const std::string wanted_device = device.is_cuda() ? "cuda" : "cpu";
  if (exported_device != wanted_device || exported_dtype != dtype_name(dtype)) {
    throw ConfigError(detail::wrong_target_message(model_dir, exported_device, exported_dtype, device, dtype));
  }
  try {
    module_ = torch::jit::load((unet_dir / "model.pt").string(), device);
  } catch (const std::exception& e) {
    throw ConfigError("cannot load " + (unet_dir / "model.pt").string() + ": " + detail::first_sentence(e));
  }
  module_.eval();
  // Freezing inlines the weights and attributes; build/bin/bench_unet measured 5.2 ms -> 4.2 ms per
  // forward (tiny model, batch 4, CPU). optimize_for_inference on top gained nothing and is not used.
  module_ = torch::jit::freeze(module_);
}

torch::Tensor TorchScriptUNet::forward(const torch::Tensor& sample, int64_t timestep) {
  return forward(sample, timestep, Condition{});
}

torch::Tensor TorchScriptUNet::forward(const torch::Tensor& sample, int64_t timestep, const Condition& condition) {
  detail::check_shape(sample, {-1, config_.in_channels, config_.sample_height, config_.sample_width}, "UNet: sample");
  config_.check_condition(condition, sample.size(0));
  const auto t = torch::full({sample.size(0)}, timestep, torch::dtype(torch::kInt64).device(device_));
  std::vector<torch::jit::IValue> inputs{sample.to(device_, dtype_), t};
  for (auto& tensor : detail::condition_inputs(config_, condition, device_, dtype_)) inputs.emplace_back(tensor);
  return module_.forward(inputs).toTensor();
}

}  // namespace ddim
