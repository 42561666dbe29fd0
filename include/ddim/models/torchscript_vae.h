#pragma once

// A VQModel or AutoencoderKL traced to TorchScript by scripts/export_model.py: one module with the
// methods encode and decode.

#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>

#include "ddim/export.h"
#include "ddim/models/vae.h"

namespace ddim {

class DDIM_API TorchScriptVAE : public VAE {
 public:
  // model_dir holds ddim_export.json with its "vae" record and <component>/model.pt. float32 only;
  // the trace fixes the device it was exported for. Throws ConfigError naming the file.
  TorchScriptVAE(const std::filesystem::path& model_dir, torch::Device device);

  torch::Tensor encoder_output(const torch::Tensor& images) override;
  torch::Tensor decode(const torch::Tensor& latents) override;
  const VAEConfig& config() const override { return config_; }
  torch::Device device() const override { return device_; }
  const std::filesystem::path& file() const override { return file_; }

 private:
  torch::jit::Module module_;
  VAEConfig config_;
  torch::Device device_;
  std::filesystem::path file_;
};

}  // namespace ddim
