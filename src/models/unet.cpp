#include "ddim/models/unet.h"

#include "ddim/models/torchscript_unet.h"

namespace ddim {

std::unique_ptr<UNet> load_unet(const std::filesystem::path& model_dir, torch::Device device, torch::ScalarType dtype) {
  return std::make_unique<TorchScriptUNet>(model_dir, device, dtype);
}

}  // namespace ddim
