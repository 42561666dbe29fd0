#pragma once

// The denoising model the pipelines call: forward(sample, timestep[, condition]) -> model output.
// One interface, two backends: AOTInductorUNet (unet/model.pt2) and TorchScriptUNet (unet/model.pt).

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ddim/export.h"
#include "ddim/models/condition.h"

namespace ddim {

// The parts of a UNet's config.json and of the folder's ddim_export.json the pipelines need.
struct DDIM_API UNetConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t sample_height = 32;
  int64_t sample_width = 32;
  // The model's inputs in order, as ddim_export.json "inputs" records them: "sample", "timestep",
  // then "encoder_hidden_states" and/or "class_labels" for a conditional UNet.
  std::vector<std::string> inputs = {"sample", "timestep"};
  // class_labels [B] int64 in [0, num_class_embeds); 0 when the model takes none.
  int64_t num_class_embeds = 0;
  // The label the model was trained to take as "no class" (classifier-free guidance's
  // unconditional half), when its export records one (scripts/export_unet.py --null-class).
  std::optional<int64_t> null_class;
  // encoder_hidden_states [B, encoder_sequence_length, cross_attention_dim]; 0 when none.
  int64_t encoder_sequence_length = 0;
  int64_t cross_attention_dim = 0;
  // The default guidance scale the export records (--guidance-scale), if any.
  std::optional<double> guidance_scale;

  bool takes_class_labels() const { return num_class_embeds > 0; }
  bool takes_encoder_hidden_states() const { return encoder_sequence_length > 0; }
  bool conditional() const { return takes_class_labels() || takes_encoder_hidden_states(); }
  // Throws UsageError naming the input and the shape and type the model takes when `condition`
  // lacks an input the model needs, gives one it does not take, or does not fit `batch` images.
  // (Label values are checked by the pipelines, once, against num_class_embeds.)
  void check_condition(const Condition& condition, int64_t batch) const;
};

class DDIM_API UNet {
 public:
  virtual ~UNet() = default;
  // sample [B, in_channels, H, W] (moved to device() and cast to dtype() when it is not there);
  // timestep: one training timestep for the whole batch. Returns the model output
  // [B, out_channels, H, W] on device() in dtype(). Throws UsageError naming the shape when the
  // sample does not fit the config, or naming the input a conditional model needs.
  virtual torch::Tensor forward(const torch::Tensor& sample, int64_t timestep) = 0;
  // The same with the condition (its tensors [B, ...] are moved to device() as the sample is). The
  // default refuses a non-empty condition and runs forward(sample, timestep): a UNet written
  // before conditioning existed stays an unconditional one.
  virtual torch::Tensor forward(const torch::Tensor& sample, int64_t timestep, const Condition& condition);
  virtual const UNetConfig& config() const = 0;
  virtual torch::Device device() const = 0;
  virtual torch::ScalarType dtype() const = 0;
};

// Loads <model_dir>/unet (written by scripts/export_unet.py) to run on `device` in `dtype`: the
// AOTInductor package unet/model.pt2 when there is one, else the TorchScript file unet/model.pt.
// When the package does not fit (another device, dtype, torch version or CPU, or damaged) and the
// folder also has model.pt that fits, that runs instead, after a warning (ddim::warn) giving the
// package's reason. Throws ddim::ConfigError, naming the file or the export to make, when nothing
// in the folder fits.
DDIM_API std::unique_ptr<UNet> load_unet(const std::filesystem::path& model_dir, torch::Device device = torch::kCPU,
                                         torch::ScalarType dtype = torch::kFloat32);

// The AOTInductor package of <model_dir>/unet for `dtype`: unet/model.<dtype>.pt2 where the folder
// has one (scripts/export_unet.py --dtype float32,bfloat16 writes one package per dtype after the
// first), else unet/model.pt2 (the first or only dtype exported; its metadata says which).
DDIM_API std::filesystem::path package_path(const std::filesystem::path& model_dir, torch::ScalarType dtype);

// What `--dtype auto` runs <model_dir>'s UNet in: the dtype unet/dtype_auto.json names as the faster
// one, when it was measured on a CPU like this machine's (the same model name, family and model, and
// the same AVX2/AVX-512/AMX extensions; scripts/export_unet.py writes the record when it exports
// several dtypes, after timing each package) and that dtype's package is there; float32 otherwise,
// with a warning saying why: the default that matches diffusers bit for bit.
DDIM_API torch::ScalarType auto_dtype(const std::filesystem::path& model_dir);

// The names ddim_export.json, scripts/export_unet.py and the tools' --dtype use: "float32",
// "float16", "bfloat16" (other types: LibTorch's name).
DDIM_API std::string dtype_name(torch::ScalarType dtype);
// The inverse; throws UsageError naming the text for any other name.
DDIM_API torch::ScalarType dtype_from_name(const std::string& name);

}  // namespace ddim
