#include "ddim/io/tensor_file.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/serialize.h>

#include <string>
#include <vector>

#include "ddim/errors.h"
#include "ddim/io/files.h"
#include "io/safetensors_format.h"
#include "io/zip_check.h"

namespace ddim {

namespace {

// torch.save's zip format, as torch::pickle_save writes it but without the type tags it puts on
// dicts (torch.jit._pickle.restore_type_tag), which torch.load's default weights_only unpickler
// refuses: a dict of tensors then loads in Python as any torch.save'd dict does.
std::string pickled(const c10::IValue& value) {
  std::vector<char> pickle;
  torch::jit::Pickler pickler([&](const char* bytes, size_t size) { pickle.insert(pickle.end(), bytes, bytes + size); },
                              /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
                              /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  std::string out;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* bytes, size_t size) {
    out.append(static_cast<const char*>(bytes), size);
    return size;
  });
  torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(), writer);
  writer.writeEndOfFile();
  return out;
}

// What the file holds, through LibTorch's unpickler once its zip structure is checked.
c10::IValue unpickle(const std::string& data, const std::filesystem::path& path) {
  // LibTorch's zip reader trusts the archive's offsets and sizes: check them first.
  detail::check_zip_structure(data, path.string());
  try {
    return torch::pickle_load(std::vector<char>(data.begin(), data.end()));
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw IOError("cannot read " + path.string() + " as a tensor file: " + what.substr(0, what.find('\n')));
  }
}

}  // namespace

void save_tensor(const std::filesystem::path& path, const torch::Tensor& tensor) {
  if (path.extension() == ".safetensors") {
    write_file_atomically(path, detail::encode_safetensors({{"latents", tensor}}));
    return;
  }
  write_file_atomically(path, pickled(tensor.detach().to(torch::kCPU).contiguous()));
}

void save_tensors(const std::filesystem::path& path, const NamedTensors& tensors) {
  if (path.extension() == ".safetensors") {
    write_file_atomically(path, detail::encode_safetensors(tensors));
    return;
  }
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, tensor] : tensors) dict.insert(name, tensor.detach().to(torch::kCPU).contiguous());
  write_file_atomically(path, pickled(dict));
}

namespace {

// A tensor from LibTorch's unpickler, in one of the types a tensor file of ours or of Python's
// torch.save holds for numbers: LibTorch also builds tensors of types most of its ops refuse
// (int1 ... int7, uint16 ... uint64, float8, quantized, bits), which would fail later with its own
// message, not ours.
torch::Tensor checked_type(torch::Tensor tensor, const std::filesystem::path& path) {
  switch (tensor.scalar_type()) {
    case torch::kFloat:
    case torch::kDouble:
    case torch::kHalf:
    case torch::kBFloat16:
    case torch::kBool:
    case torch::kByte:
    case torch::kChar:
    case torch::kShort:
    case torch::kInt:
    case torch::kLong:
    case torch::kComplexFloat:
    case torch::kComplexDouble:
      return tensor;
    default:
      throw IOError(path.string() + " holds a tensor of type " + c10::toString(tensor.scalar_type()) +
                    ", which is not a number type ddim reads");
  }
}

}  // namespace

torch::Tensor load_tensor(const std::filesystem::path& path) {
  const std::string data = read_file(path);
  if (detail::looks_like_safetensors(data)) {
    auto tensors = detail::decode_safetensors(data, path.string());
    if (tensors.size() != 1) {
      throw IOError("cannot read " + path.string() + " as safetensors: more than one tensor (latents files hold one)");
    }
    return tensors.begin()->second;
  }
  const auto value = unpickle(data, path);
  if (!value.isTensor()) throw IOError(path.string() + " does not hold a single tensor");
  return checked_type(value.toTensor(), path);
}

NamedTensors load_tensors(const std::filesystem::path& path) {
  const std::string data = read_file(path);
  if (detail::looks_like_safetensors(data)) return detail::decode_safetensors(data, path.string());
  const auto value = unpickle(data, path);
  if (value.isTensor()) return {{"latents", checked_type(value.toTensor(), path)}};
  const auto refuse = [&] {
    return IOError(path.string() + " holds neither a tensor nor a dict from names to tensors");
  };
  if (!value.isGenericDict()) throw refuse();
  NamedTensors tensors;
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString() || !entry.value().isTensor()) throw refuse();
    tensors.emplace(entry.key().toStringRef(), checked_type(entry.value().toTensor(), path));
  }
  if (tensors.empty()) throw refuse();
  return tensors;
}

}  // namespace ddim
