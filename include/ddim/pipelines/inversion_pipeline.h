#pragma once

// Images -> latent noise and back, by one of the methods of InversionMethod: diffusers' DDIM or
// DPM-Solver inversion (an inverse scheduler, then its forward partner, as diffusers pipelines
// invert without guidance), either refined by fixed-point iteration, or the exactly invertible
// EDICT and BDIA samplers. With a VAE (a latent model) the images are encoded first and the
// reconstruction decoded, as pix2pix-zero and DiffEdit invert: latents = encode(2 images - 1) *
// scaling_factor, and images = decode(latents / scaling_factor).

#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ddim/export.h"
#include "ddim/io/tensor_file.h"
#include "ddim/models/unet.h"
#include "ddim/models/vae.h"
#include "ddim/pipelines/ddim_pipeline.h"
#include "ddim/pipelines/guidance.h"
#include "ddim/pipelines/inversion_method.h"
#include "ddim/schedulers/scheduler.h"

namespace ddim {

struct InvertOptions {
  int64_t num_inference_steps = 50;
  // The condition to invert (and reconstruct) under, for a conditional model. Unlike sampling, an
  // unset guidance_scale means 1 (one conditional call per step), as pix2pix-zero inverts; above 1
  // the inversion runs classifier-free guidance, which no inverse step undoes exactly.
  Guidance guidance;
  // A latent model's encoding (VAE::encode): AutoencoderKL's posterior mode (deterministic, the
  // default) or a draw from a CPU generator seeded with encode_seed (latent_dist.sample(generator),
  // as pix2pix-zero's invert). A VQModel has one latent either way.
  LatentDistribution latent_distribution = LatentDistribution::kMode;
  uint64_t encode_seed = 0;
  StepCallback callback;
};

struct Inversion {
  // What the method's latents file holds (InversionMethod::latents_keys): "latents" [B, C, H, W] on
  // the model's device in the latent dtype, EDICT's and BDIA's companion state beside it, and their
  // parameters and step count as 0-dim CPU tensors.
  NamedTensors latents;
  int64_t unet_calls = 0;  // UNet evaluations, each on the whole batch
  bool cancelled = false;  // the callback stopped it; `latents` is empty
};

struct Reconstruction {
  torch::Tensor images;      // [B, H, W, C] float32 in [0, 1] on the CPU
  torch::Tensor latents;     // the final sample [B, C, H, W] before decoding (model device, latent dtype)
  std::vector<double> mse;   // per image, against the originals when given
  std::vector<double> psnr;  // dB, 10 log10(1 / mse)
  int64_t unet_calls = 0;    // UNet evaluations, each on the whole batch
  bool cancelled = false;
};

class DDIM_API InversionPipeline {
 public:
  static InversionPipeline from_pretrained(const std::filesystem::path& model_dir, torch::Device device = torch::kCPU,
                                           torch::ScalarType dtype = torch::kFloat32,
                                           InverseScheduler scheduler = InverseScheduler::kDDIM);
  static InversionPipeline from_pretrained(const std::filesystem::path& model_dir, torch::Device device,
                                           torch::ScalarType dtype, const InversionMethod& method);
  // Both schedulers of the pair from one diffusers config, as X.from_config(pipe.scheduler.config).
  // Throws ConfigError now when either cannot be built.
  InversionPipeline(std::shared_ptr<UNet> unet, const std::string& scheduler_config_json, InverseScheduler scheduler);
  // The method's scheduler pair (InversionMethod::scheduler_pair) from the config. Throws
  // UsageError for parameters out of range, ConfigError when a scheduler cannot be built.
  InversionPipeline(std::shared_ptr<UNet> unet, const std::string& scheduler_config_json,
                    const InversionMethod& method);
  // Any inverse scheduler and the forward scheduler that undoes it; copies of both (clone()) are
  // kept and a clone runs in each invert() / reconstruct(). edict and bdia need a DDIMScheduler as
  // `forward` (ConfigError otherwise) and do not use `inverse`.
  InversionPipeline(std::shared_ptr<UNet> unet, const Scheduler& inverse, const Scheduler& forward,
                    const InversionMethod& method = {});

  // images [B, H, W, C] in [0, 1] (the layout DDIMPipeline returns; a latent model's images are the
  // VAE's image size, and are encoded first) -> latents [B, C, H, W] on the
  // model's device, in float32 whatever the UNet's dtype (a float16/bfloat16 UNet runs in mixed
  // precision: only its forward is in that dtype): x = 2 images - 1, then the method's inversion
  // (for ddim and dpmsolver, for each t of the inverse schedule x = inverse.step(unet(x, t), t, x)).
  // Undefined if the callback cancelled. Throws UsageError naming the shape when the images do not
  // fit the model.
  torch::Tensor invert(const torch::Tensor& images, const InvertOptions& options = {});
  // The same, with everything the method's sampler needs to retrace it (EDICT's and BDIA's
  // companion state) and the UNet calls it took.
  Inversion invert_latents(const torch::Tensor& images, const InvertOptions& options = {});
  // latents -> images with the method's forward partner; MSE and PSNR against `originals` when given.
  Reconstruction reconstruct(const torch::Tensor& latents, const InvertOptions& options = {},
                             const torch::Tensor& originals = {});
  // The same from a latents file's tensors (Inversion::latents, or load_tensors). Without the
  // companion state, edict and bdia sample from the latents as from noise. Throws UsageError when
  // the tensors belong to another method or were made with other parameters or another step count.
  Reconstruction reconstruct(const NamedTensors& latents, const InvertOptions& options = {},
                             const torch::Tensor& originals = {});

  // Encode before inverting and decode after reconstructing through `vae` (nullptr: pixel space).
  // ConfigError when the VAE's latents are not the UNet's sample. from_pretrained sets the folder's.
  void set_vae(std::shared_ptr<VAE> vae);
  VAE* vae() { return vae_.get(); }

  const InversionMethod& method() const { return method_; }
  const Scheduler& inverse_scheduler() const { return *inverse_; }
  const Scheduler& forward_scheduler() const { return *forward_; }

 private:
  std::shared_ptr<UNet> unet_;
  std::shared_ptr<const Scheduler> inverse_;
  std::shared_ptr<const Scheduler> forward_;
  InversionMethod method_;
  std::shared_ptr<VAE> vae_;
};

}  // namespace ddim
