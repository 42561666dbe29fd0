#pragma once

// A UNet2DModel compiled ahead of time by AOTInductor (torch.export, then
// torch._inductor.aot_compile) into unet/model.pt2 by scripts/export_unet.py --format aoti (and
// unet/model.<dtype>.pt2 for each further dtype of --dtype float32,bfloat16).

#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <string>

#include "ddim/export.h"
#include "ddim/models/unet.h"

namespace ddim {
namespace detail {
class BatchedPackage;
}

class DDIM_API AOTInductorUNet : public UNet {
 public:
  // model_dir holds unet/config.json and the package package_path(model_dir, dtype) names (unet.h);
  // the device must be the CPU (the only kind of package scripts/export_unet.py makes). The
  // package's metadata is checked before its compiled code is loaded; a ConfigError naming the
  // package and the export that fixes it is thrown when the package is damaged or was compiled for
  // another device, dtype or torch version, or for CPU features this machine lacks (it would die
  // with SIGILL).
  AOTInductorUNet(const std::filesystem::path& model_dir, torch::Device device, torch::ScalarType dtype);
  ~AOTInductorUNet() override;
  AOTInductorUNet(const AOTInductorUNet&) = delete;
  AOTInductorUNet& operator=(const AOTInductorUNet&) = delete;

  // Batch 1 runs the package's static batch-1 model; larger batches its dynamic-batch model, in
  // chunks of its largest batch where they exceed it.
  torch::Tensor forward(const torch::Tensor& sample, int64_t timestep) override;
  torch::Tensor forward(const torch::Tensor& sample, int64_t timestep, const Condition& condition) override;
  const UNetConfig& config() const override { return config_; }
  torch::Device device() const override { return device_; }
  torch::ScalarType dtype() const override { return dtype_; }

  // The threads the package's CPU code runs on (fixed when it was compiled).
  int threads() const { return threads_; }
  // The package file that was loaded.
  const std::filesystem::path& package() const { return package_; }

 private:
  std::unique_ptr<detail::BatchedPackage> models_;
  UNetConfig config_;
  std::filesystem::path package_;
  torch::Device device_;
  torch::ScalarType dtype_;
  int threads_ = 0;
};

}  // namespace ddim
