#pragma once

// The pair of models an AOTInductor package of scripts/export_unet.py or scripts/export_model.py
// holds for one function: one compiled for batch 1 (the fastest shape) and one over the dynamic
// batch range torch.export proved (e.g. 2..63). Each is loaded on first use, and a batch is
// dispatched between them: batch 1 to the first, a batch in the range to the second, anything
// else in chunks.

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace torch::inductor {
class AOTIModelPackageLoader;
}

namespace ddim::detail {

// The checks every CPU package of ours gets before its code is loaded: compiled for this
// LibTorch's version and for CPU features this machine has. ConfigError naming the package, the
// mismatch and `reexport` (the command that makes a fitting package) otherwise.
void check_package_fits(const std::filesystem::path& package,
                        const std::unordered_map<std::string, std::string>& metadata, const std::string& reexport);

class BatchedPackage {
 public:
  // `package` is the file named in errors, `source` what is loaded (the unpacked folder, or the
  // package itself); `batched_metadata` is the metadata of model `batched`, holding its range
  // (ddim.batch_min, ddim.batch_max). ConfigError naming the package and `reexport` when the
  // range is missing or wrong, or when model `batch1` is not in the archive.
  BatchedPackage(std::filesystem::path package, std::filesystem::path source, std::string batch1, std::string batched,
                 const std::unordered_map<std::string, std::string>& batched_metadata, std::string reexport);
  ~BatchedPackage();
  BatchedPackage(const BatchedPackage&) = delete;
  BatchedPackage& operator=(const BatchedPackage&) = delete;

  // The first output of the model for `inputs`, every one with the batch as its first dimension
  // and the same batch; a batch outside the range runs in chunks of at most batch_max(), a chunk
  // below the range image by image.
  torch::Tensor run(const std::vector<torch::Tensor>& inputs);

  int64_t batch_min() const { return batch_min_; }
  int64_t batch_max() const { return batch_max_; }

 private:
  struct Slot {
    std::string name;
    std::once_flag once;
    std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader;
  };
  torch::inductor::AOTIModelPackageLoader& get(Slot& slot);
  torch::Tensor run_slice(Slot& slot, const std::vector<torch::Tensor>& inputs, int64_t start, int64_t end);

  std::filesystem::path package_;
  std::filesystem::path source_;
  std::string reexport_;
  Slot batch1_;
  Slot batched_;
  int64_t batch_min_ = 1;
  int64_t batch_max_ = 1;
};

}  // namespace ddim::detail
