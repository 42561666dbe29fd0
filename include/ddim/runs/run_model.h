#pragma once

// Which model a run uses and how it runs: the model folder, the device, the UNet's dtype and the
// scheduler config overrides. What ddim-generate's and ddim-invert's --model, --device, --dtype and
// --set give.

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "ddim/export.h"
#include "ddim/schedulers/scheduler_factory.h"

namespace ddim {

struct DDIM_API RunModel {
  std::filesystem::path folder;   // a model folder of scripts/export_unet.py
  std::string device = "auto";    // auto (cuda:0 when there is a GPU), cpu, cuda or cuda:N
  std::string dtype = "float32";  // the UNet's dtype: float32, float16, bfloat16 or auto (auto_dtype, unet.h)
  std::vector<std::string> set;   // scheduler config overrides, KEY=VALUE each

  // Throws UsageError naming a malformed device or override, ConfigError for a device this
  // machine does not have.
  torch::Device resolved_device() const;
  torch::ScalarType resolved_dtype() const;
  std::vector<ConfigOverride> overrides() const;
};

// "auto", "cpu", "cuda" or "cuda:N" as a device of this machine. Throws UsageError for another
// name, ConfigError naming the device when there is no such CUDA device.
DDIM_API torch::Device parse_device(const std::string& name);

}  // namespace ddim
