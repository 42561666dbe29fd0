#include "ddim/models/unet.h"

#include "ddim/errors.h"
#include "ddim/models/aot_inductor_unet.h"
#include "ddim/models/torchscript_unet.h"
#include "ddim/warnings.h"

namespace ddim {

std::unique_ptr<UNet> load_unet(const std::filesystem::path& model_dir, torch::Device device, torch::ScalarType dtype) {
  const auto unet_dir = model_dir / "unet";
  const bool has_package = std::filesystem::exists(unet_dir / "model.pt2");
  const bool has_trace = std::filesystem::exists(unet_dir / "model.pt");
  if (!has_package) return std::make_unique<TorchScriptUNet>(model_dir, device, dtype);
  try {
    return std::make_unique<AOTInductorUNet>(model_dir, device, dtype);
  } catch (const ConfigError& package_error) {
    if (!has_trace) throw;
    // The portable TorchScript file is the fallback; when it does not fit either, the package's
    // reason is the one to report.
    std::unique_ptr<UNet> fallback;
    try {
      fallback = std::make_unique<TorchScriptUNet>(model_dir, device, dtype);
    } catch (const ConfigError&) {
      throw package_error;
    }
    warn(std::string(package_error.what()) + "; running " + (unet_dir / "model.pt").string() +
         " (TorchScript) instead");
    return fallback;
  }
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
