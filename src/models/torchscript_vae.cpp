#include "ddim/models/torchscript_vae.h"

#include "ddim/errors.h"
#include "models/model_folder.h"
#include "models/shape_check.h"

namespace ddim {

TorchScriptVAE::TorchScriptVAE(const std::filesystem::path& model_dir, torch::Device device)
    : config_(detail::read_vae_config(model_dir)), device_(device), file_(model_dir / config_.component / "model.pt") {
  const auto meta = detail::read_json(model_dir / "ddim_export.json");
  const std::string exported_device = meta.value("device", std::string("cpu"));
  const std::string wanted_device = device.is_cuda() ? "cuda" : "cpu";
  const auto& file = file_;
  if (exported_device != wanted_device) {
    throw ConfigError(detail::wrong_target_message(file, exported_device, "float32", device, torch::kFloat32));
  }
  try {
    module_ = torch::jit::load(file.string(), device);
  } catch (const std::exception& e) {
    throw ConfigError("cannot load " + file.string() + ": " + detail::first_sentence(e));
  }
  if (!module_.find_method("encode") || !module_.find_method("decode")) {
    throw ConfigError(file.string() +
                      " has no encode and decode methods; re-export the model with "
                      "scripts/export_model.py");
  }
  module_.eval();
}

torch::Tensor TorchScriptVAE::encoder_output(const torch::Tensor& images) {
  detail::check_shape(images, {-1, config_.in_channels, config_.image_height, config_.image_width}, "VAE: images");
  return module_.get_method("encode")({images.to(device_, torch::kFloat32)}).toTensor();
}

torch::Tensor TorchScriptVAE::decode(const torch::Tensor& latents) {
  detail::check_shape(latents, {-1, config_.latent_channels, config_.latent_height(), config_.latent_width()},
                      "VAE: latents");
  return module_.get_method("decode")({latents.to(device_, torch::kFloat32)}).toTensor();
}

}  // namespace ddim
