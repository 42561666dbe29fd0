#include "ddim/runs/run_model.h"

#include "ddim/errors.h"
#include "ddim/models/unet.h"

namespace ddim {

torch::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (name.rfind("cuda", 0) != 0) {
    throw UsageError("--device " + one_line(name) + ": use auto, cpu, cuda or cuda:N");
  }
  int64_t index = 0;
  if (name.size() > 4) {
    const std::string digits = name.substr(5);
    if (name[4] != ':' || digits.empty() || digits.size() > 4 ||
        digits.find_first_not_of("0123456789") != std::string::npos) {
      throw UsageError("--device " + one_line(name) + ": use auto, cpu, cuda or cuda:N");
    }
    index = std::stoll(digits);
  }
  const int64_t count = torch::cuda::device_count();
  if (count == 0) throw ConfigError("--device " + name + ": no CUDA device is available");
  if (index >= count) {
    throw ConfigError("--device " + name + ": this machine has " + std::to_string(count) + " CUDA device" +
                      (count == 1 ? "" : "s") + " (cuda:0 to cuda:" + std::to_string(count - 1) + ")");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

torch::Device RunModel::resolved_device() const { return parse_device(device); }

torch::ScalarType RunModel::resolved_dtype() const {
  return dtype == "auto" ? auto_dtype(folder) : dtype_from_name(dtype);
}

std::vector<ConfigOverride> RunModel::overrides() const {
  std::vector<ConfigOverride> out;
  for (const auto& item : set) out.push_back(ConfigOverride::parse(item));
  return out;
}

}  // namespace ddim
