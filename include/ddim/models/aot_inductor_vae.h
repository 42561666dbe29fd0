#pragma once

// A VQModel or AutoencoderKL compiled ahead of time by AOTInductor into <component>/model.pt2 by
// scripts/export_model.py --format aoti (or both): the encoder and the decoder, each at batch 1
// and over a dynamic batch, float32, for the CPU it was compiled on.

#include <torch/torch.h>

#include <filesystem>
#include <memory>

#include "ddim/export.h"
#include "ddim/models/vae.h"

namespace ddim {
namespace detail {
class BatchedPackage;
}

class DDIM_API AOTInductorVAE : public VAE {
 public:
  // model_dir holds ddim_export.json with its "vae" record and <component>/model.pt2; the device
  // must be the CPU. The package's metadata is checked before its code is loaded: a ConfigError
  // naming the package and the export that fixes it is thrown when it is missing or damaged, is
  // not a VAE package, or was compiled for another torch version or for CPU features this machine
  // lacks.
  AOTInductorVAE(const std::filesystem::path& model_dir, torch::Device device);
  ~AOTInductorVAE() override;
  AOTInductorVAE(const AOTInductorVAE&) = delete;
  AOTInductorVAE& operator=(const AOTInductorVAE&) = delete;

  torch::Tensor encoder_output(const torch::Tensor& images) override;
  torch::Tensor decode(const torch::Tensor& latents) override;
  const VAEConfig& config() const override { return config_; }
  torch::Device device() const override { return device_; }
  const std::filesystem::path& file() const override { return package_; }

 private:
  VAEConfig config_;
  torch::Device device_;
  std::filesystem::path package_;
  std::unique_ptr<detail::BatchedPackage> encoder_;
  std::unique_ptr<detail::BatchedPackage> decoder_;
};

}  // namespace ddim
