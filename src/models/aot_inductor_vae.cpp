#include "ddim/models/aot_inductor_vae.h"

#include "ddim/errors.h"
#include "models/batched_package.h"
#include "models/model_folder.h"
#include "models/package_cache.h"
#include "models/shape_check.h"

namespace ddim {
namespace {

// As scripts/export_model.py writes the package: its kind, the metadata version and the models.
constexpr const char* kKind = "vae";
constexpr const char* kFormatVersion = "1";
constexpr const char* kReexport = "; re-export the folder with scripts/export_model.py SRC OUT --format aoti";

}  // namespace

AOTInductorVAE::AOTInductorVAE(const std::filesystem::path& model_dir, torch::Device device)
    : config_(detail::read_vae_config(model_dir)),
      device_(device),
      package_(model_dir / config_.component / "model.pt2") {
  if (!device.is_cpu()) {
    throw ConfigError(package_.string() + " cannot run on " + device.str() +
                      ": AOTInductor packages run on the CPU in this version; export a TorchScript VAE with "
                      "scripts/export_model.py SRC OUT --format torchscript --device cuda");
  }
  if (!std::filesystem::is_regular_file(package_))
    throw ConfigError("cannot read " + package_.string() + ": no such file");
  // The metadata first: nothing compiled is loaded before it says the package fits this machine.
  const auto encode_meta = detail::read_package_metadata(package_, "encode_batched", kReexport);
  const auto kind = detail::metadata_field(encode_meta, "ddim.kind");
  const auto version = detail::metadata_field(encode_meta, "ddim.format_version");
  if (kind != kKind || version != kFormatVersion) {
    throw ConfigError(package_.string() + " is not a VAE package of this version (kind '" + kind + "', format '" +
                      version + "')" + kReexport);
  }
  const auto vae_class = detail::metadata_field(encode_meta, "ddim.vae_class");
  if (vae_class != config_.class_name) {
    throw ConfigError(package_.string() + " holds a " + vae_class + ", but " +
                      (model_dir / "ddim_export.json").string() + " records a " + config_.class_name + kReexport);
  }
  detail::check_package_fits(package_, encode_meta, kReexport);
  const auto decode_meta = detail::read_package_metadata(package_, "decode_batched", kReexport);
  // Unpacked once into the cache, shared by the four models.
  const auto unpacked = detail::unpacked_package(package_);
  const auto source = unpacked.empty() ? package_ : unpacked;
  encoder_ = std::make_unique<detail::BatchedPackage>(package_, source, "encode_", encode_meta, kReexport);
  decoder_ = std::make_unique<detail::BatchedPackage>(package_, source, "decode_", decode_meta, kReexport);
}

AOTInductorVAE::~AOTInductorVAE() = default;

torch::Tensor AOTInductorVAE::encoder_output(const torch::Tensor& images) {
  detail::check_shape(images, {-1, config_.in_channels, config_.image_height, config_.image_width}, "VAE: images");
  return encoder_->run({images.to(device_, torch::kFloat32)});
}

torch::Tensor AOTInductorVAE::decode(const torch::Tensor& latents) {
  detail::check_shape(latents, {-1, config_.latent_channels, config_.latent_height(), config_.latent_width()},
                      "VAE: latents");
  return decoder_->run({latents.to(device_, torch::kFloat32)});
}

}  // namespace ddim
