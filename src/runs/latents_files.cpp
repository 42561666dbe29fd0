#include "runs/latents_files.h"

#include <nlohmann/json.hpp>

#include "ddim/errors.h"
#include "ddim/io/files.h"
#include "runs/sidecar_record.h"

namespace ddim::detail {
namespace {

// numpy's and torch's Python names of the types latents must not have.
std::string type_name(torch::ScalarType type) {
  switch (type) {
    case torch::kBool:
      return "bool";
    case torch::kByte:
      return "uint8";
    case torch::kChar:
      return "int8";
    case torch::kShort:
      return "int16";
    case torch::kInt:
      return "int32";
    case torch::kLong:
      return "int64";
    case torch::kComplexHalf:
      return "complex32";
    case torch::kComplexFloat:
      return "complex64";
    case torch::kComplexDouble:
      return "complex128";
    default:
      return c10::toString(type);
  }
}

}  // namespace

NamedTensors load_latents(const std::string& path, const char* flag) {
  auto named = load_tensors(path);
  if (named.size() == 1) named = {{"latents", named.begin()->second}};  // one tensor, whatever its name
  if (!named.count("latents")) {
    throw UsageError(std::string(flag) + " " + path + " holds several tensors but none named 'latents'");
  }
  const auto& main = named.at("latents");
  for (const auto& [key, tensor] : named) {
    const std::string what = std::string(flag) + " " + path + (key == "latents" ? "" : " '" + key + "'");
    if (tensor.dim() == 0) continue;
    if (tensor.dim() != 4 || tensor.sizes() != main.sizes()) {
      throw UsageError(std::string(flag) + " " + path + ": expected [N, C, H, W] latents" +
                       (key == "latents" ? "" : " in '" + key + "' as in 'latents'"));
    }
    // Latents are real numbers: integers, bool and complex values are not a sample.
    if (!at::isFloatingType(tensor.scalar_type())) {
      throw UsageError(what + " holds " + type_name(tensor.scalar_type()) +
                       " values; latents are a floating type (float32, float64, float16 or bfloat16)");
    }
    check_finite(tensor, what);
  }
  return named;
}

InversionMethod latents_method(const std::filesystem::path& file, const NamedTensors& latents, int64_t* steps) {
  const std::string name = file.string();
  const auto number = [&](const char* key) { return latents.at(key).to(torch::kFloat64).item<double>(); };
  // What the entries say.
  auto method = InversionMethod::from_name("ddim");
  if (latents.count("edict_y")) method = InversionMethod::from_name("edict");
  if (latents.count("bdia_next")) method = InversionMethod::from_name("bdia");
  if (latents.count("edict_p")) method.edict_p = number("edict_p");
  if (latents.count("bdia_gamma")) method.bdia_gamma = number("bdia_gamma");
  const std::filesystem::path sidecar = name + ".json";
  if (std::filesystem::is_regular_file(sidecar)) {
    const auto record = nlohmann::json::parse(read_file(sidecar), nullptr, false);
    if (record.is_object() && record.contains("method")) {
      const auto named = method_from_record(record["method"], sidecar.string());
      const bool exact = named.kind == InversionMethod::Kind::kEDICT || named.kind == InversionMethod::Kind::kBDIA;
      if (exact != (method.kind != InversionMethod::Kind::kDDIM) || (exact && named.kind != method.kind)) {
        throw UsageError("--latents " + name + " holds the entries of --method " + method.name() + " but " +
                         sidecar.string() + " names --method " + named.name());
      }
      method = named;
    }
    if (steps && record.is_object() && record.contains("steps") && record["steps"].is_number_integer()) {
      *steps = record["steps"].get<int64_t>();
    }
  }
  if (steps && latents.count("num_inference_steps")) *steps = latents.at("num_inference_steps").item<int64_t>();
  return method;
}

NamedTensors slice_latents(const NamedTensors& latents, int64_t first, int64_t n) {
  NamedTensors out;
  for (const auto& [key, tensor] : latents) out[key] = tensor.dim() == 0 ? tensor : tensor.narrow(0, first, n);
  return out;
}

NamedTensors concat_latents(const std::vector<NamedTensors>& batches) {
  NamedTensors out;
  for (const auto& [key, tensor] : batches.at(0)) {
    if (tensor.dim() == 0) {
      out[key] = tensor;
      continue;
    }
    std::vector<torch::Tensor> parts;
    for (const auto& batch : batches) parts.push_back(batch.at(key));
    out[key] = torch::cat(parts);
  }
  return out;
}

NamedTensors cpu_latents(const NamedTensors& latents) {
  NamedTensors out;
  for (const auto& [key, tensor] : latents) {
    const auto type =
        tensor.dim() == 0 ? tensor.scalar_type() : torch::promote_types(tensor.scalar_type(), torch::kFloat32);
    out[key] = tensor.to(torch::kCPU, type);
  }
  return out;
}

void save_latents(const std::filesystem::path& path, const NamedTensors& latents) {
  if (latents.size() == 1 && latents.count("latents")) {
    save_tensor(path, latents.at("latents"));
  } else {
    save_tensors(path, latents);
  }
}

void check_finite(const torch::Tensor& tensor, const std::string& what) {
  const int64_t bad = torch::isfinite(tensor).logical_not().sum().item<int64_t>();
  if (bad > 0) {
    throw UsageError(what + " holds " + std::to_string(bad) + " non-finite value" + (bad == 1 ? "" : "s") +
                     " (NaN or inf) of " + std::to_string(tensor.numel()));
  }
}

}  // namespace ddim::detail
