#include "ddim/models/unet.h"

#include "ddim/errors.h"
#include "ddim/models/torchscript_unet.h"

namespace ddim {

std::unique_ptr<UNet> load_unet(const std::filesystem::path& model_dir, torch::Device device, torch::ScalarType dtype) {
  return std::make_unique<TorchScriptUNet>(model_dir, device, dtype);
}

std::string dtype_name(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return "float32";
    case torch::kFloat16:
      return "float16";
    case torch::kBFloat16:
      return "bfloat16";
    default:
      return c10::toString(dtype);
  }
}

torch::ScalarType dtype_from_name(const std::string& name) {
  for (const auto dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16}) {
    if (name == dtype_name(dtype)) return dtype;
  }
  throw UsageError("dtype '" + name + "' is not one of float32, float16, bfloat16");
}

}  // namespace ddim
