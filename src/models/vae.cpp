#include "ddim/models/vae.h"

#include <ATen/CPUGeneratorImpl.h>

#include "ddim/errors.h"
#include "ddim/models/aot_inductor_vae.h"
#include "ddim/models/torchscript_vae.h"
#include "models/model_folder.h"
#include "models/package_or_trace.h"
#include "models/shape_check.h"

namespace ddim {

// AutoencoderKL's DiagonalGaussianDistribution: mean, logvar = chunk(moments, 2, dim=1), logvar
// clamped to [-30, 20], std = exp(0.5 logvar); mode() is the mean, sample() mean + std * randn.
torch::Tensor VAE::encode(const torch::Tensor& images, LatentDistribution distribution,
                          std::optional<at::Generator> generator) {
  const auto& cfg = config();
  detail::check_shape(images, {-1, cfg.in_channels, cfg.image_height, cfg.image_width}, "VAE: images");
  const auto output = encoder_output(images);
  if (cfg.quantized()) return output;
  const auto moments = output.chunk(2, 1);
  const auto& mean = moments[0];
  if (distribution == LatentDistribution::kMode) return mean;
  const auto std = torch::exp(0.5 * moments[1].clamp(-30.0, 20.0));
  if (!generator) generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(0));
  // randn_tensor: drawn on the generator's device, then moved.
  const auto noise =
      torch::randn(mean.sizes(), *generator, torch::dtype(mean.scalar_type()).device(generator->device()));
  return mean + std * noise.to(mean.device());
}

std::unique_ptr<VAE> load_vae(const std::filesystem::path& model_dir, torch::Device device) {
  const auto meta_path = model_dir / "ddim_export.json";
  if (!std::filesystem::exists(meta_path)) return nullptr;
  const auto meta = detail::read_json(meta_path);
  if (!meta.is_object() || !meta.contains("vae")) return nullptr;
  const auto component = detail::read_vae_config(model_dir).component;
  const bool has_package = std::filesystem::exists(model_dir / component / "model.pt2");
  if (!has_package) return std::make_unique<TorchScriptVAE>(model_dir, device);
  return detail::package_or_trace<VAE>([&] { return std::make_unique<AOTInductorVAE>(model_dir, device); },
                                       [&] { return std::make_unique<TorchScriptVAE>(model_dir, device); },
                                       model_dir / component / "model.pt");
}

}  // namespace ddim
