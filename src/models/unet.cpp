#include "ddim/models/unet.h"

#include <sstream>

#include "ddim/errors.h"
#include "ddim/models/aot_inductor_unet.h"
#include "ddim/models/torchscript_unet.h"
#include "ddim/warnings.h"
#include "models/cpu_features.h"
#include "models/model_folder.h"
#include "models/package_or_trace.h"

namespace ddim {
namespace {

std::string shape_text(const torch::Tensor& tensor) {
  std::ostringstream text;
  text << tensor.sizes();
  return text.str();
}

}  // namespace

void UNetConfig::check_condition(const Condition& condition, int64_t batch) const {
  const std::string b = std::to_string(batch);
  const auto& labels = condition.class_labels;
  const std::string labels_take =
      "the model takes class_labels [" + b + "] int64 in [0, " + std::to_string(num_class_embeds) + ")";
  if (takes_class_labels() && !labels.defined()) throw UsageError("UNet: class_labels missing: " + labels_take);
  if (!takes_class_labels() && labels.defined()) {
    throw UsageError("UNet: class_labels given, but the model takes none (its config has no num_class_embeds)");
  }
  if (labels.defined() && (labels.dim() != 1 || labels.size(0) != batch || labels.scalar_type() != torch::kLong)) {
    throw UsageError("UNet: class_labels of shape " + shape_text(labels) + " and type " +
                     c10::toString(labels.scalar_type()) + ": " + labels_take);
  }
  const auto& states = condition.encoder_hidden_states;
  const std::string states_take = "the model takes encoder_hidden_states [" + b + ", " +
                                  std::to_string(encoder_sequence_length) + ", " + std::to_string(cross_attention_dim) +
                                  "] floating";
  if (takes_encoder_hidden_states() && !states.defined()) {
    throw UsageError("UNet: encoder_hidden_states missing: " + states_take);
  }
  if (!takes_encoder_hidden_states() && states.defined()) {
    throw UsageError("UNet: encoder_hidden_states given, but the model has no cross-attention");
  }
  if (states.defined() && (states.dim() != 3 || states.size(0) != batch || states.size(1) != encoder_sequence_length ||
                           states.size(2) != cross_attention_dim || !states.is_floating_point())) {
    throw UsageError("UNet: encoder_hidden_states of shape " + shape_text(states) + " and type " +
                     c10::toString(states.scalar_type()) + ": " + states_take);
  }
}

torch::Tensor UNet::forward(const torch::Tensor& sample, int64_t timestep, const Condition& condition) {
  if (!condition.empty()) {
    config().check_condition(condition, sample.dim() ? sample.size(0) : 0);
    throw UsageError("UNet: this model takes no condition");
  }
  return forward(sample, timestep);
}

std::unique_ptr<UNet> load_unet(const std::filesystem::path& model_dir, torch::Device device, torch::ScalarType dtype) {
  const auto unet_dir = model_dir / "unet";
  const bool has_package = std::filesystem::exists(unet_dir / "model.pt2");
  if (!has_package) return std::make_unique<TorchScriptUNet>(model_dir, device, dtype);
  return detail::package_or_trace<UNet>([&] { return std::make_unique<AOTInductorUNet>(model_dir, device, dtype); },
                                        [&] { return std::make_unique<TorchScriptUNet>(model_dir, device, dtype); },
                                        unet_dir / "model.pt");
}

std::filesystem::path package_path(const std::filesystem::path& model_dir, torch::ScalarType dtype) {
  const auto per_dtype = model_dir / "unet" / ("model." + dtype_name(dtype) + ".pt2");
  return std::filesystem::is_regular_file(per_dtype) ? per_dtype : model_dir / "unet" / "model.pt2";
}

torch::ScalarType auto_dtype(const std::filesystem::path& model_dir) {
  const auto record_path = model_dir / "unet" / "dtype_auto.json";
  if (!std::filesystem::exists(record_path)) return torch::kFloat32;
  const auto record = detail::read_json(record_path);
  const auto text = [&](const char* key) {
    const auto it = record.find(key);
    if (it == record.end() || !it->is_string()) {
      throw ConfigError(record_path.string() + ": \"" + key + "\" is missing or not a string; re-export with " +
                        "scripts/export_unet.py SRC OUT --dtype float32,bfloat16");
    }
    return it->get<std::string>();
  };
  const auto choice = dtype_from_name(text("choice"));
  if (record.find("cpu") == record.end()) {
    warn("--dtype auto: " + record_path.string() + " has no \"cpu\" entry (an older export's record); running " +
         "float32. Re-export with --dtype float32,bfloat16 to measure this CPU");
    return torch::kFloat32;
  }
  const auto measured_on = text("cpu");
  if (measured_on != detail::cpu_identity()) {
    warn("--dtype auto: " + record_path.string() + " was measured on \"" + measured_on + "\", this CPU is \"" +
         detail::cpu_identity() + "\"; running float32");
    return torch::kFloat32;
  }
  if (choice != torch::kFloat32 && package_path(model_dir, choice).filename() == "model.pt2") {
    warn("--dtype auto: " + record_path.string() + " names " + dtype_name(choice) + ", but " +
         (model_dir / "unet" / ("model." + dtype_name(choice) + ".pt2")).string() + " is missing; running float32");
    return torch::kFloat32;
  }
  return choice;
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
