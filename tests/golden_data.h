#pragma once

// Loads golden.{json,bin}, written by scripts/make_golden.py from diffusers on this machine in the
// same test run (the golden_data fixture, in the build folder).

#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

namespace ddim::test {

class GoldenData {
 public:
  // The fixture's folder, or the folder in $DDIM_GOLDEN_DIR (cases drawn by
  // scripts/random_differential.py, in the same format). For a CUDA device, its cuda/ subfolder:
  // diffusers run on this machine's GPU (make_golden.py --device cuda).
  static const GoldenData& get(const torch::Device& device = torch::kCPU) {
    const std::string dir = other_dir() ? other_dir() : std::string(DDIM_GOLDEN_DATA_DIR);
    if (device.is_cuda()) {
      static const GoldenData cuda(dir + "/cuda", "scripts/make_golden.py --device cuda");
      return cuda;
    }
    static const GoldenData data(dir, "scripts/make_golden.py");
    return data;
  }
  static const char* other_dir() { return std::getenv("DDIM_GOLDEN_DIR"); }

  const nlohmann::json& doc() const { return doc_; }

  // The float32 tensor an entry {"offset", "shape"} points at.
  torch::Tensor tensor(const nlohmann::json& entry) const {
    std::vector<int64_t> shape = entry.at("shape").get<std::vector<int64_t>>();
    const auto offset = entry.at("offset").get<int64_t>();
    int64_t numel = 1;
    for (auto s : shape) numel *= s;
    if ((offset + numel) * 4 > static_cast<int64_t>(blob_.size())) throw std::runtime_error("golden.bin too short");
    return torch::from_blob(const_cast<char*>(blob_.data()) + offset * 4, shape, torch::kFloat32).clone();
  }

 private:
  // `maker`: the command that writes the folder, for the message when it is missing.
  GoldenData(const std::string& dir, const std::string& maker) {
    std::ifstream json(dir + "/golden.json");
    if (!json) throw std::runtime_error("missing " + dir + "/golden.json: run " + maker);
    doc_ = nlohmann::json::parse(json);
    std::ifstream bin(dir + "/golden.bin", std::ios::binary);
    std::ostringstream bytes;
    bytes << bin.rdbuf();
    blob_ = bytes.str();
  }

  nlohmann::json doc_;
  std::string blob_;
};

// The stand-in UNet of scripts/make_golden.py: 0.5 sin(3 x + 0.01 t) + 0.3 x, channels doubled
// for a learned variance.
inline torch::Tensor smooth_model(const torch::Tensor& x, int64_t t, bool doubled) {
  auto eps = torch::sin(x * 3.0 + static_cast<double>(t) * 0.01) * 0.5 + x * 0.3;
  return doubled ? torch::cat({eps, eps}, 1) : eps;
}

// max |a - b| / max |b|: the error relative to the reference's scale.
inline double relative_error(const torch::Tensor& actual, const torch::Tensor& expected) {
  const auto a = actual.to(torch::kCPU, torch::kFloat64);
  const auto b = expected.to(torch::kCPU, torch::kFloat64);
  const double scale = std::max(b.abs().max().item<double>(), 1e-12);
  return (a - b).abs().max().item<double>() / scale;
}

}  // namespace ddim::test
