#include "models/batched_package.h"

#include <c10/util/strides.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <algorithm>

#include "ddim/errors.h"
#include "models/cpu_features.h"
#include "models/model_folder.h"

namespace ddim::detail {
namespace {

int64_t parse_count(const std::unordered_map<std::string, std::string>& metadata, const std::string& key,
                    const std::filesystem::path& package, const std::string& reexport) {
  try {
    return std::stoll(metadata_field(metadata, key));
  } catch (const std::exception&) {
    throw ConfigError(package.string() + " has no valid " + key + " in its metadata" + reexport);
  }
}

}  // namespace

void check_package_fits(const std::filesystem::path& package,
                        const std::unordered_map<std::string, std::string>& metadata, const std::string& reexport) {
  if (metadata_field(metadata, "ddim.torch_version") != libtorch_version()) {
    throw ConfigError(package.string() + " was compiled with torch " + metadata_field(metadata, "ddim.torch_version") +
                      ", this library runs torch " + libtorch_version() + reexport);
  }
  if (const auto missing = missing_cpu_features(split_words(metadata_field(metadata, "ddim.cpu_features")));
      !missing.empty()) {
    throw ConfigError(package.string() + " was compiled for CPU features this machine lacks (" + join_words(missing) +
                      ")" + reexport + " on this machine, or with --march x86-64-v3 for any AVX2 machine");
  }
}

BatchedPackage::BatchedPackage(std::filesystem::path package, std::filesystem::path source, const std::string& prefix,
                               const std::unordered_map<std::string, std::string>& batched_metadata,
                               std::string reexport)
    : package_(std::move(package)), source_(std::move(source)), reexport_(std::move(reexport)) {
  batch1_.name = prefix + "batch1";
  batched_.name = prefix + "batched";
  batch_min_ = parse_count(batched_metadata, "ddim.batch_min", package_, reexport_);
  batch_max_ = parse_count(batched_metadata, "ddim.batch_max", package_, reexport_);
  if (batch_min_ < 1 || batch_max_ < batch_min_) {
    throw ConfigError(package_.string() + " has a batch range [" + std::to_string(batch_min_) + ", " +
                      std::to_string(batch_max_) + "] in its metadata" + reexport_);
  }
  // Packages compiled before static batches existed do not record the key: none.
  for (const auto& word : split_words(metadata_field(batched_metadata, "ddim.static_batches"))) {
    int64_t batch = 0;
    try {
      std::size_t used = 0;
      batch = std::stoll(word, &used);
      if (used != word.size()) batch = 0;
    } catch (const std::exception&) {
    }
    if (batch < 2 || static_.count(batch)) {
      throw ConfigError(package_.string() + " has a static batch '" + word + "' in its metadata" + reexport_);
    }
    auto slot = std::make_unique<Slot>();
    slot->name = prefix + "batch" + std::to_string(batch);
    static_.emplace(batch, std::move(slot));
  }
  // Every model must be in the archive (their code is loaded on first use).
  std::vector<const Slot*> required{&batch1_};
  for (const auto& [batch, slot] : static_) required.push_back(slot.get());
  for (const Slot* slot : required) {
    try {
      torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(package_.string(), slot->name);
    } catch (const std::exception& e) {
      throw ConfigError("cannot read model '" + slot->name + "' of " + package_.string() + ": " + first_sentence(e) +
                        reexport_);
    }
  }
}

BatchedPackage::~BatchedPackage() = default;

// A run at batch 1 never maps the batched model's code and weights (about as large as the whole
// model), and a run at larger batches loads the batch-1 model only for a remainder below the range.
torch::inductor::AOTIModelPackageLoader& BatchedPackage::get(Slot& slot) {
  // call_once runs again after a throw, so a failed load is reported on every call.
  std::call_once(slot.once, [&] {
    try {
      slot.loader =
          std::make_unique<torch::inductor::AOTIModelPackageLoader>(source_.string(), slot.name, false, 1, -1);
    } catch (const std::exception& e) {
      throw ConfigError("cannot load model '" + slot.name + "' of " + package_.string() + ": " + first_sentence(e) +
                        reexport_);
    }
  });
  return *slot.loader;
}

torch::Tensor BatchedPackage::run_slice(Slot& slot, const std::vector<torch::Tensor>& inputs, int64_t start,
                                        int64_t end) {
  const bool whole = start == 0 && end == inputs.at(0).size(0);
  std::vector<torch::Tensor> part;
  part.reserve(inputs.size());
  for (const auto& tensor : inputs) part.push_back(whole ? tensor : tensor.slice(0, start, end).contiguous());
  return get(slot).run(part).at(0);
}

torch::Tensor BatchedPackage::run(const std::vector<torch::Tensor>& given) {
  // Dense in the canonical strides: a tensor with a size-1 dimension can pass is_contiguous() with
  // any stride there (e.g. a one-channel image batch permuted from [B, H, W, 1]), and the compiled
  // kernels index by the strides they were built for.
  std::vector<torch::Tensor> inputs;
  inputs.reserve(given.size());
  for (const auto& x : given) {
    const auto strides = c10::contiguous_strides(x.sizes());
    inputs.push_back(x.strides() == c10::IntArrayRef(strides) ? x : x.clone(at::MemoryFormat::Contiguous));
  }
  const int64_t batch = inputs.at(0).size(0);
  if (batch == 1) return run_slice(batch1_, inputs, 0, 1);
  if (const auto it = static_.find(batch); it != static_.end()) return run_slice(*it->second, inputs, 0, batch);
  if (batch >= batch_min_ && batch <= batch_max_) return run_slice(batched_, inputs, 0, batch);
  std::vector<torch::Tensor> outputs;
  for (int64_t start = 0; start < batch; start += batch_max_) {
    const int64_t end = std::min(batch, start + batch_max_);
    if (end - start >= batch_min_) {
      outputs.push_back(run_slice(batched_, inputs, start, end));
    } else {
      for (int64_t i = start; i < end; ++i) outputs.push_back(run_slice(batch1_, inputs, i, i + 1));
    }
  }
  return torch::cat(outputs);
}

}  // namespace ddim::detail
