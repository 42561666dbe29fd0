#include "ddim/models/aot_inductor_unet.h"

#include <c10/util/strides.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "ddim/errors.h"
#include "models/cpu_features.h"
#include "models/model_folder.h"
#include "models/package_cache.h"
#include "models/shape_check.h"

namespace ddim {
namespace {

// The package's two models, as scripts/export_unet.py names them.
constexpr const char* kBatch1Model = "batch1";
constexpr const char* kBatchedModel = "batched";
// The metadata version this loader reads (PACKAGE_FORMAT_VERSION in scripts/export_unet.py).
constexpr const char* kFormatVersion = "1";

int64_t parse_count(const std::unordered_map<std::string, std::string>& metadata, const std::string& key,
                    const std::filesystem::path& package) {
  const auto it = metadata.find(key);
  try {
    if (it != metadata.end()) return std::stoll(it->second);
  } catch (const std::exception&) {
  }
  throw ConfigError(package.string() + " has no valid " + key + " in its metadata; re-export it with " +
                    "scripts/export_unet.py SRC OUT --format aoti");
}

}  // namespace

// The package's two models, each loaded on first use: a run at batch 1 never maps the batched
// model's code and weights (about as large as the whole model), and a run at larger batches loads
// the batch-1 model only for a remainder below the batched range.
struct AOTInductorUNet::Models {
  struct Slot {
    const char* name;
    std::once_flag once;
    std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader;
  };
  std::filesystem::path package;  // named in errors
  std::filesystem::path source;   // the unpacked folder, or the package itself
  Slot batch1{kBatch1Model, {}, nullptr};
  Slot batched{kBatchedModel, {}, nullptr};

  torch::inductor::AOTIModelPackageLoader& get(Slot& slot) {
    // call_once runs again after a throw, so a failed load is reported on every call.
    std::call_once(slot.once, [&] {
      try {
        slot.loader =
            std::make_unique<torch::inductor::AOTIModelPackageLoader>(source.string(), slot.name, false, 1, -1);
      } catch (const std::exception& e) {
        throw ConfigError("cannot load model '" + std::string(slot.name) + "' of " + package.string() + ": " +
                          detail::first_sentence(e) +
                          "; re-export it with scripts/export_unet.py SRC OUT --format aoti");
      }
    });
    return *slot.loader;
  }
};

AOTInductorUNet::AOTInductorUNet(const std::filesystem::path& model_dir, torch::Device device, torch::ScalarType dtype)
    : models_(std::make_unique<Models>()), package_(package_path(model_dir, dtype)), device_(device), dtype_(dtype) {
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
  const auto field = [&](const std::string& key) {
    const auto it = metadata.find(key);
    return it == metadata.end() ? std::string() : it->second;
  };
  if (field("ddim.format_version") != kFormatVersion) {
    throw ConfigError(package.string() + " was not written by this version's scripts/export_unet.py (package format '" +
                      field("ddim.format_version") + "', expected '" + kFormatVersion + "')" + reexport);
  }
  if (field("ddim.torch_version") != detail::libtorch_version()) {
    throw ConfigError(package.string() + " was compiled with torch " + field("ddim.torch_version") +
                      ", this library runs torch " + detail::libtorch_version() + reexport + " and torch " +
                      detail::libtorch_version());
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
  if (const auto missing = detail::missing_cpu_features(detail::split_words(field("ddim.cpu_features")));
      !missing.empty()) {
    throw ConfigError(package.string() + " was compiled for CPU features this machine lacks (" +
                      detail::join_words(missing) +
                      "); re-export it on this machine, or with --march x86-64-v3 for any AVX2 machine, with "
                      "scripts/export_unet.py SRC OUT --format aoti");
  }
  batch_min_ = parse_count(metadata, "ddim.batch_min", package);
  batch_max_ = parse_count(metadata, "ddim.batch_max", package);
  threads_ = static_cast<int>(parse_count(metadata, "ddim.threads", package));
  if (batch_min_ < 1 || batch_max_ < batch_min_) {
    throw ConfigError(package.string() + " has a batch range [" + std::to_string(batch_min_) + ", " +
                      std::to_string(batch_max_) + "] in its metadata" + reexport);
  }

  // Both models must be in the archive (their code is loaded on first use, see Models).
  try {
    torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(package.string(), kBatch1Model);
  } catch (const std::exception& e) {
    throw ConfigError("cannot read model '" + std::string(kBatch1Model) + "' of " + package.string() + ": " +
                      detail::first_sentence(e) + reexport);
  }
  // Unpacked once into the cache: loading the archive itself unpacks it again for each model on
  // every start.
  const auto unpacked = detail::unpacked_package(package);
  models_->package = package;
  models_->source = unpacked.empty() ? package : unpacked;
}

AOTInductorUNet::~AOTInductorUNet() = default;

torch::Tensor AOTInductorUNet::forward(const torch::Tensor& sample, int64_t timestep) {
  return forward(sample, timestep, Condition{});
}

torch::Tensor AOTInductorUNet::forward(const torch::Tensor& sample, int64_t timestep, const Condition& condition) {
  detail::check_shape(sample, {-1, config_.in_channels, config_.sample_height, config_.sample_width}, "UNet: sample");
  config_.check_condition(condition, sample.size(0));
  // Dense in the canonical strides: a tensor with a size-1 dimension can pass is_contiguous() with
  // any stride there (e.g. a one-channel image batch permuted from [B, H, W, 1]), and the compiled
  // kernels index by the strides they were built for.
  const auto dense = [](torch::Tensor x) {
    const auto strides = c10::contiguous_strides(x.sizes());
    return x.strides() == c10::IntArrayRef(strides) ? x : x.clone(at::MemoryFormat::Contiguous);
  };
  const auto x = dense(sample.to(device_, dtype_));
  auto extra = detail::condition_inputs(config_, condition, device_, dtype_);
  for (auto& tensor : extra) tensor = dense(tensor);
  const int64_t batch = x.size(0);
  const auto run = [&](torch::inductor::AOTIModelPackageLoader& model, int64_t start, int64_t end) {
    const bool whole = start == 0 && end == batch;
    std::vector<torch::Tensor> inputs{
        whole ? x : x.slice(0, start, end).contiguous(),
        torch::full({end - start}, timestep, torch::dtype(torch::kInt64).device(device_))};
    for (const auto& tensor : extra) inputs.push_back(whole ? tensor : tensor.slice(0, start, end).contiguous());
    return model.run(inputs).at(0);
  };
  if (batch == 1) return run(models_->get(models_->batch1), 0, 1);
  if (batch >= batch_min_ && batch <= batch_max_) return run(models_->get(models_->batched), 0, batch);
  // Chunks of at most batch_max_; a chunk below the dynamic model's range runs image by image.
  std::vector<torch::Tensor> outputs;
  for (int64_t start = 0; start < batch; start += batch_max_) {
    const int64_t end = std::min(batch, start + batch_max_);
    if (end - start >= batch_min_) {
      outputs.push_back(run(models_->get(models_->batched), start, end));
    } else {
      for (int64_t i = start; i < end; ++i) outputs.push_back(run(models_->get(models_->batch1), i, i + 1));
    }
  }
  return torch::cat(outputs);
}

}  // namespace ddim
