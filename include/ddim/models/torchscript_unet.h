#pragma once

// A UNet2DModel traced to TorchScript by scripts/export_unet.py.

#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>

#include "ddim/export.h"
#include "ddim/models/unet.h"

namespace ddim {

class DDIM_API TorchScriptUNet : public UNet {
 public:
  // model_dir holds unet/config.json, unet/model.pt and ddim_export.json. The trace fixes the device
  // and dtype it was exported for; asking for others is a ConfigError that names the export to make.
  TorchScriptUNet(const std::filesystem::path& model_dir, torch::Device device, torch::ScalarType dtype);

  torch::Tensor forward(const torch::Tensor& sample, int64_t timestep) override;
  torch::Tensor forward(const torch::Tensor& sample, int64_t timestep, const Condition& condition) override;
  const UNetConfig& config() const override { return config_; }
  torch::Device device() const override { return device_; }
  torch::ScalarType dtype() const override { return dtype_; }

 private:
  torch::jit::Module module_;
  UNetConfig config_;
  torch::Device device_;
  torch::ScalarType dtype_;
};

}  // namespace ddim
