#include "ddim/models/aot_inductor_unet.h"

#include <vector>

#include "ddim/errors.h"
#include "models/batched_package.h"
#include "models/model_folder.h"
#include "models/package_cache.h"
#include "models/shape_check.h"

namespace ddim {
namespace {

// The package's dynamic-batch model, as scripts/export_unet.py names it: its metadata is read first.
constexpr const char* kBatchedModel = "batched";
// The metadata version this loader reads (PACKAGE_FORMAT_VERSION in scripts/export_unet.py).
constexpr const char* kFormatVersion = "1";

}  // namespace

AOTInductorUNet::AOTInductorUNet(const std::filesystem::path& model_dir, torch::Device device, torch::ScalarType dtype)
    : package_(package_path(model_dir, dtype)), device_(device), dtype_(dtype) {
  if (!std::filesystem::is_directory(model_dir)) throw ConfigError("model folder " + model_dir.string() + " not found");
  const auto unet_dir = model_dir / "unet";
  config_ = detail::read_unet_config(unet_dir);
  const auto& package = package_;
  // scripts/export_unet.py makes CPU packages only; a CUDA package path has never run here.
  if (!device.is_cpu()) {
    throw ConfigError(package.string() + " cannot run on " + device.str() +
                      ": AOTInductor packages run on the CPU in this version; export a TorchScript file with "
                      "scripts/export_unet.py SRC OUT --format torchscript --device cuda");
  }
  if (!std::filesystem::is_regular_file(package))
    throw ConfigError("cannot read " + package.string() + ": no such file");
  const std::string reexport = "; re-export it with scripts/export_unet.py SRC OUT --format aoti";

  // The metadata first: nothing compiled is loaded before it says the package fits this machine.
  const auto metadata = detail::read_package_metadata(package, kBatchedModel, reexport);
  const auto field = [&](const std::string& key) { return detail::metadata_field(metadata, key); };
  if (field("ddim.format_version") != kFormatVersion) {
    throw ConfigError(package.string() + " was not written by this version's scripts/export_unet.py (package format '" +
                      field("ddim.format_version") + "', expected '" + kFormatVersion + "')" + reexport);
  }
  if (field("ddim.device") != (device.is_cuda() ? "cuda" : "cpu") || field("ddim.dtype") != dtype_name(dtype)) {
    throw ConfigError(
        detail::wrong_target_message(package, field("ddim.device"), field("ddim.dtype"), device, dtype) +
        " --format aoti (a list such as --dtype float32,bfloat16 puts a package per dtype in one folder)");
  }
  // Packages compiled before conditioning existed take (sample, timestep) and record no inputs.
  const auto inputs = field("ddim.inputs").empty() ? std::string("sample timestep") : field("ddim.inputs");
  if (inputs != detail::join_words(config_.inputs)) {
    throw ConfigError(package.string() + " takes inputs (" + inputs + "), but " +
                      (model_dir / "ddim_export.json").string() + " records (" + detail::join_words(config_.inputs) +
                      ")" + reexport);
  }
  detail::check_package_fits(package, metadata, reexport);
  try {
    threads_ = std::stoi(field("ddim.threads"));
  } catch (const std::exception&) {
    throw ConfigError(package.string() + " has no valid ddim.threads in its metadata" + reexport);
  }
  // Unpacked once into the cache: loading the archive itself unpacks it again for each model on
  // every start.
  const auto unpacked = detail::unpacked_package(package);
  models_ =
      std::make_unique<detail::BatchedPackage>(package, unpacked.empty() ? package : unpacked, "", metadata, reexport);
}

AOTInductorUNet::~AOTInductorUNet() = default;

torch::Tensor AOTInductorUNet::forward(const torch::Tensor& sample, int64_t timestep) {
  return forward(sample, timestep, Condition{});
}

torch::Tensor AOTInductorUNet::forward(const torch::Tensor& sample, int64_t timestep, const Condition& condition) {
  detail::check_shape(sample, {-1, config_.in_channels, config_.sample_height, config_.sample_width}, "UNet: sample");
  config_.check_condition(condition, sample.size(0));
  const auto x = sample.to(device_, dtype_);
  std::vector<torch::Tensor> inputs{x, torch::full({x.size(0)}, timestep, torch::dtype(torch::kInt64).device(device_))};
  for (const auto& tensor : detail::condition_inputs(config_, condition, device_, dtype_)) inputs.push_back(tensor);
  return models_->run(inputs);
}

}  // namespace ddim
