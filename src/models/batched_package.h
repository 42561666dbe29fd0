#pragma once

// The models an AOTInductor package of scripts/export_unet.py or scripts/export_model.py holds for
// one function: PREFIXbatch1, compiled for batch 1 (the fastest shape), PREFIXbatched, over the
// dynamic batch range torch.export proved (e.g. 2..63), and PREFIXbatchN for each static batch N
// the package's metadata lists (export's --static-batches). Each is loaded on first use, and a
// batch is dispatched between them: batch 1 and a static batch to their own models, another batch
// in the range to the dynamic one, anything else in chunks.

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
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
  // package itself); `prefix` starts every model's name ("" for a UNet, "decode_" for a VAE's
  // decoder); `batched_metadata` is the metadata of model PREFIXbatched, holding its range
  // (ddim.batch_min, ddim.batch_max) and its static batches (ddim.static_batches, optional).
  // ConfigError naming the package and `reexport` when the range or a static batch is wrong, or
  // when model PREFIXbatch1 or a listed static model is not in the archive.
  BatchedPackage(std::filesystem::path package, std::filesystem::path source, const std::string& prefix,
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
  std::map<int64_t, std::unique_ptr<Slot>> static_;  // a Slot holds a once_flag, which cannot move
  int64_t batch_min_ = 1;
  int64_t batch_max_ = 1;
};

}  // namespace ddim::detail
