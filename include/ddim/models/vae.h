#pragma once

// The autoencoder of a latent model, between images and the latents the UNet denoises: diffusers'
// VQModel (LDMPipeline's vqvae/) and AutoencoderKL (Stable Diffusion's vae/). One interface; two
// backends, as for the UNet: AOTInductorVAE (<component>/model.pt2, compiled for this CPU) and
// TorchScriptVAE (<component>/model.pt, portable), both written by scripts/export_model.py.
// Latents here are the VAE's own: the pipelines scale them by scaling_factor, as diffusers'
// pipelines do (StableDiffusionPipeline multiplies after encoding and divides before decoding;
// LDMPipeline divides before decoding).

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "ddim/export.h"

namespace ddim {

// The parts of the VAE's config.json and of ddim_export.json's "vae" record the pipelines need.
struct DDIM_API VAEConfig {
  std::string component = "vae";  // the folder: "vqvae" (VQModel) or "vae" (AutoencoderKL)
  std::string class_name = "AutoencoderKL";
  int64_t in_channels = 3;  // image channels
  int64_t out_channels = 3;
  int64_t latent_channels = 4;
  double scaling_factor = 0.18215;
  int64_t downsampling_factor = 8;  // image size / latent size
  int64_t image_height = 0;         // the one size the export takes
  int64_t image_width = 0;

  bool quantized() const { return class_name == "VQModel"; }
  int64_t latent_height() const { return image_height / downsampling_factor; }
  int64_t latent_width() const { return image_width / downsampling_factor; }
};

// How encode() turns AutoencoderKL's posterior into latents: its mean (diffusers'
// latent_dist.mode(), deterministic) or a draw mean + std * randn (latent_dist.sample(generator)).
// A VQModel's encoder gives one latent; both give it.
enum class LatentDistribution { kMode, kSample };

class DDIM_API VAE {
 public:
  virtual ~VAE() = default;
  // images [B, in_channels, H, W] in [-1, 1] -> the encoder's output: a VQModel's latents
  // [B, C, h, w] before quantization (VQModel.encode(x).latents), or AutoencoderKL's moments
  // [B, 2C, h, w], the mean then the log-variance. On device(), float32.
  virtual torch::Tensor encoder_output(const torch::Tensor& images) = 0;
  // latents [B, C, h, w] (unscaled) -> images [B, out_channels, H, W] in about [-1, 1]; a VQModel
  // quantizes first, as VQModel.decode does.
  virtual torch::Tensor decode(const torch::Tensor& latents) = 0;
  virtual const VAEConfig& config() const = 0;
  virtual torch::Device device() const = 0;
  // The file that was loaded (<model_dir>/<component>/model.pt2 or model.pt).
  virtual const std::filesystem::path& file() const = 0;

  // Unscaled latents of images: the VQ latents, or the posterior's mode or a draw from `generator`
  // (a CPU generator draws on the CPU, as randn_tensor does). UsageError naming the shape when the
  // images are not [B, in_channels, H, W] of the exported size.
  torch::Tensor encode(const torch::Tensor& images, LatentDistribution distribution = LatentDistribution::kMode,
                       std::optional<at::Generator> generator = std::nullopt);
};

// The VAE of <model_dir> (its ddim_export.json "vae" record and that folder), on `device` in
// float32; nullptr for a pixel-space model (no record). The compiled package when the folder has
// one and it fits this machine, else the TorchScript file (warned when a package is there but does
// not fit). ConfigError naming the file when the folder is damaged or its latent channels do not fit.
DDIM_API std::unique_ptr<VAE> load_vae(const std::filesystem::path& model_dir, torch::Device device = torch::kCPU);

}  // namespace ddim
