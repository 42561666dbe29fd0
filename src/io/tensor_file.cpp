#include "ddim/io/tensor_file.h"

#include <torch/serialize.h>

#include <string>
#include <vector>

#include "ddim/errors.h"
#include "ddim/io/files.h"
#include "io/safetensors_format.h"
#include "io/zip_check.h"

namespace ddim {

void save_tensor(const std::filesystem::path& path, const torch::Tensor& tensor) {
  if (path.extension() == ".safetensors") {
    write_file_atomically(path, detail::encode_safetensors(tensor, "latents"));
    return;
  }
  const auto bytes = torch::pickle_save(tensor.detach().to(torch::kCPU).contiguous());
  write_file_atomically(path, std::string(bytes.begin(), bytes.end()));
}

torch::Tensor load_tensor(const std::filesystem::path& path) {
  const std::string data = read_file(path);
  if (detail::looks_like_safetensors(data)) return detail::decode_safetensors(data, path.string());
  // LibTorch's zip reader trusts the archive's offsets and sizes: check them first.
  detail::check_zip_structure(data, path.string());
  try {
    const auto value = torch::pickle_load(std::vector<char>(data.begin(), data.end()));
    if (!value.isTensor()) throw IOError(path.string() + " does not hold a single tensor");
    return value.toTensor();
  } catch (const IOError&) {
    throw;
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw IOError("cannot read " + path.string() + " as a tensor file: " + what.substr(0, what.find('\n')));
  }
}

}  // namespace ddim
