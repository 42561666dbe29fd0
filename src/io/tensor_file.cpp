#include "ddim/io/tensor_file.h"

#include <torch/serialize.h>

#include <fstream>
#include <random>
#include <sstream>

#include "ddim/io_error.h"

namespace ddim {

void write_file_atomically(const std::filesystem::path& path, const std::string& contents) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  if (!std::filesystem::is_directory(dir)) throw IOError("cannot write " + path.string() + ": no folder " + dir.string());
  const auto temp = dir / ("." + path.filename().string() + ".tmp-" + std::to_string(std::random_device{}()));
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw IOError("cannot write " + path.string() + ": the folder is not writable");
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(temp, ec);
      throw IOError("cannot write " + path.string());
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::filesystem::remove(temp, ec);
    throw IOError("cannot write " + path.string() + ": " + ec.message());
  }
}

void save_tensor(const std::filesystem::path& path, const torch::Tensor& tensor) {
  const auto bytes = torch::pickle_save(tensor.detach().to(torch::kCPU).contiguous());
  write_file_atomically(path, std::string(bytes.begin(), bytes.end()));
}

torch::Tensor load_tensor(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError("cannot read " + path.string() + ": no such file");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string data = buffer.str();
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
