#include "io/safetensors_format.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "ddim/errors.h"

namespace ddim::detail {
namespace {

// The header's dtype names for the dtypes latents come in.
const std::vector<std::pair<std::string, torch::ScalarType>>& dtypes() {
  static const std::vector<std::pair<std::string, torch::ScalarType>> table = {
      {"F32", torch::kFloat32}, {"F64", torch::kFloat64}, {"F16", torch::kFloat16}, {"BF16", torch::kBFloat16}};
  return table;
}

// Larger headers are refused (the format's own readers cap it at 100 MB).
constexpr uint64_t kMaxHeader = 100 * 1000 * 1000;

uint64_t read_u64(const std::string& bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

}  // namespace

std::string encode_safetensors(const torch::Tensor& tensor, const std::string& name) {
  const auto data = tensor.detach().to(torch::kCPU).contiguous();
  std::string dtype;
  for (const auto& [n, t] : dtypes()) {
    if (t == data.scalar_type()) dtype = n;
  }
  if (dtype.empty())
    throw UsageError(std::string("cannot write a ") + c10::toString(data.scalar_type()) +
                     " tensor as safetensors (float32, float64, float16, bfloat16 only)");
  const uint64_t nbytes = data.numel() * data.element_size();
  nlohmann::json header = {{name, {{"dtype", dtype}, {"shape", data.sizes().vec()}, {"data_offsets", {0, nbytes}}}},
                           {"__metadata__", {{"format", "pt"}}}};
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((static_cast<uint64_t>(text.size()) >> (8 * i)) & 0xFF);
  out += text;
  out.append(static_cast<const char*>(data.data_ptr()), nbytes);  // x86-64 and aarch64: little-endian already
  return out;
}

bool looks_like_safetensors(const std::string& bytes) {
  return bytes.size() >= 10 && read_u64(bytes) <= bytes.size() - 8 && bytes[8] == '{';
}

torch::Tensor decode_safetensors(const std::string& bytes, const std::string& path) {
  const auto fail = [&](const std::string& what) { throw IOError("cannot read " + path + " as safetensors: " + what); };
  if (bytes.size() < 8) fail("shorter than its 8-byte header length");
  const uint64_t header_len = read_u64(bytes);
  if (header_len > kMaxHeader || header_len > bytes.size() - 8) {
    fail("a header of " + std::to_string(header_len) + " bytes in a file of " + std::to_string(bytes.size()));
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_len));
  } catch (const nlohmann::json::exception&) {
    fail("its header is not JSON");
  }
  if (!header.is_object()) fail("its header is not a JSON object");
  const uint64_t data_size = bytes.size() - 8 - header_len;
  const nlohmann::json* entry = nullptr;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") continue;
    if (entry) fail("more than one tensor (latents files hold one)");
    entry = &value;
  }
  if (!entry) fail("no tensor");
  torch::ScalarType dtype = torch::kFloat32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
  try {
    const auto name = entry->at("dtype").get<std::string>();
    bool known = false;
    for (const auto& [n, t] : dtypes()) {
      if (n == name) {
        dtype = t;
        known = true;
      }
    }
    if (!known) fail("dtype " + name + " (float32, float64, float16, bfloat16 only)");
    const auto offsets = entry->at("data_offsets").get<std::vector<uint64_t>>();
    if (offsets.size() != 2) fail("data_offsets is not [begin, end]");
    begin = offsets[0];
    end = offsets[1];
    shape = entry->at("shape").get<std::vector<int64_t>>();
  } catch (const nlohmann::json::exception&) {
    fail("a tensor entry without a valid dtype, shape and data_offsets");
  }
  if (shape.size() > 8) fail("a tensor of " + std::to_string(shape.size()) + " dimensions");
  uint64_t numel = 1;
  for (const auto d : shape) {
    if (d < 0) fail("a negative dimension");
    if (d != 0 && numel > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)) fail("a shape too large");
    numel *= static_cast<uint64_t>(d);
  }
  const uint64_t itemsize = c10::elementSize(dtype);
  if (begin > end || end > data_size) fail("data_offsets past the end of the file");
  if (numel > (end - begin) / itemsize || numel * itemsize != end - begin) {
    fail("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] do not hold the shape's " +
         std::to_string(numel) + " values");
  }
  auto tensor = torch::empty(shape, dtype);
  std::memcpy(tensor.data_ptr(), bytes.data() + 8 + header_len + begin, end - begin);
  return tensor;
}

}  // namespace ddim::detail
