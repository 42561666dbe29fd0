#pragma once

// The denoising model the pipelines call: forward(sample, timestep) -> model output. One interface,
// two backends: AOTInductorUNet (unet/model.pt2) and TorchScriptUNet (unet/model.pt).

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "ddim/export.h"

namespace ddim {

// The parts of a UNet2DModel config.json the pipelines need.
struct UNetConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t sample_height = 32;
  int64_t sample_width = 32;
};

class DDIM_API UNet {
 public:
  virtual ~UNet() = default;
  // sample [B, in_channels, H, W] (moved to device() and cast to dtype() when it is not there);
  // timestep: one training timestep for the whole batch. Returns the model output
  // [B, out_channels, H, W] on device() in dtype(). Throws UsageError naming the shape when the
  // sample does not fit the config.
  virtual torch::Tensor forward(const torch::Tensor& sample, int64_t timestep) = 0;
  virtual const UNetConfig& config() const = 0;
  virtual torch::Device device() const = 0;
  virtual torch::ScalarType dtype() const = 0;
};

// Loads <model_dir>/unet (written by scripts/export_unet.py) to run on `device` in `dtype`: the
// AOTInductor package unet/model.pt2 when there is one, else the TorchScript file unet/model.pt.
// When the package does not fit (another device, dtype, torch version or CPU, or damaged) and the
// folder also has model.pt that fits, that runs instead, after a warning (ddim::warn) giving the
// package's reason. Throws ddim::ConfigError, naming the file or the export to make, when nothing
// in the folder fits.
DDIM_API std::unique_ptr<UNet> load_unet(const std::filesystem::path& model_dir, torch::Device device = torch::kCPU,
                                         torch::ScalarType dtype = torch::kFloat32);

// The names ddim_export.json, scripts/export_unet.py and the tools' --dtype use: "float32",
// "float16", "bfloat16" (other types: LibTorch's name).
DDIM_API std::string dtype_name(torch::ScalarType dtype);
// The inverse; throws UsageError naming the text for any other name.
DDIM_API torch::ScalarType dtype_from_name(const std::string& name);

}  // namespace ddim
