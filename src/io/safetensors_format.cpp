#include "io/safetensors_format.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "ddim/errors.h"
#include "io/json_values.h"

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

std::string encode_safetensors(const std::map<std::string, torch::Tensor>& tensors) {
  nlohmann::json header = {{"__metadata__", {{"format", "pt"}}}};
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    data.push_back(tensor.detach().to(torch::kCPU).contiguous());
    std::string dtype;
    for (const auto& [n, t] : dtypes()) {
      if (t == data.back().scalar_type()) dtype = n;
    }
    if (dtype.empty()) {
      throw UsageError(std::string("cannot write a ") + c10::toString(data.back().scalar_type()) + " tensor '" + name +
                       "' as safetensors (float32, float64, float16, bfloat16 only)");
    }
    const uint64_t nbytes = data.back().numel() * data.back().element_size();
    header[name] = {
        {"dtype", dtype}, {"shape", data.back().sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((static_cast<uint64_t>(text.size()) >> (8 * i)) & 0xFF);
  out += text;
  for (const auto& d : data) {  // x86-64 and aarch64: little-endian already
    out.append(static_cast<const char*>(d.data_ptr()), d.numel() * d.element_size());
  }
  return out;
}

bool looks_like_safetensors(const std::string& bytes) {
  return bytes.size() >= 10 && read_u64(bytes) <= bytes.size() - 8 && bytes[8] == '{';
}

std::map<std::string, torch::Tensor> decode_safetensors(const std::string& bytes, const std::string& path) {
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
  std::map<std::string, torch::Tensor> tensors;
  uint64_t claimed = 0;  // the entries' bytes together: at most the data section
  for (const auto& [key, entry] : header.items()) {
    if (key == "__metadata__") continue;
    const auto name = json_excerpt(nlohmann::json(key));
    torch::ScalarType dtype = torch::kFloat32;
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;
    try {
      const auto dtype_name = entry.at("dtype").get<std::string>();
      bool known = false;
      for (const auto& [n, t] : dtypes()) {
        if (n == dtype_name) {
          dtype = t;
          known = true;
        }
      }
      if (!known) fail(name + " has dtype " + dtype_name + " (float32, float64, float16, bfloat16 only)");
      const auto& offsets = entry.at("data_offsets");
      if (!offsets.is_array() || offsets.size() != 2) fail(name + ": data_offsets is not [begin, end]");
      const auto first = json_int64(offsets[0]), last = json_int64(offsets[1]);
      if (!first || !last || *first < 0 || *last < 0) {
        fail(name + ": data_offsets " + json_excerpt(offsets) + " are not two byte offsets");
      }
      begin = static_cast<uint64_t>(*first);
      end = static_cast<uint64_t>(*last);
      const auto& dims = entry.at("shape");
      if (!dims.is_array()) fail(name + ": shape " + json_excerpt(dims) + " is not a list");
      for (const auto& d : dims) {
        const auto size = json_int64(d);
        if (!size) fail(name + ": a shape entry " + json_excerpt(d) + " that is not a whole number");
        shape.push_back(*size);
      }
    } catch (const nlohmann::json::exception&) {
      fail(name + ": a tensor entry without a valid dtype, shape and data_offsets");
    }
    if (shape.size() > 8) fail(name + ": a tensor of " + std::to_string(shape.size()) + " dimensions");
    uint64_t numel = 1;
    for (const auto d : shape) {
      if (d < 0) fail(name + ": a negative dimension");
      if (d != 0 && numel > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)) {
        fail(name + ": a shape too large");
      }
      numel *= static_cast<uint64_t>(d);
    }
    const uint64_t itemsize = c10::elementSize(dtype);
    if (begin > end || end > data_size) fail(name + ": data_offsets past the end of the file");
    if (numel > (end - begin) / itemsize || numel * itemsize != end - begin) {
      fail(name + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
           "] do not hold the shape's " + std::to_string(numel) + " values");
    }
    claimed += end - begin;
    if (claimed > data_size) fail("tensors overlapping in the data section");
    auto tensor = torch::empty(shape, dtype);
    // A tensor of no values has no storage to copy into (data_ptr() may be null).
    if (end > begin) std::memcpy(tensor.data_ptr(), bytes.data() + 8 + header_len + begin, end - begin);
    tensors.emplace(key, std::move(tensor));
  }
  if (tensors.empty()) fail("no tensor");
  return tensors;
}

}  // namespace ddim::detail
