#pragma once

// Tensors in files Python reads with torch.load (the zip format of torch.save), and small text
// files, always written through a temporary file and a rename.

#include <torch/torch.h>

#include <filesystem>
#include <string>

namespace ddim {

// Saves a CPU copy of `tensor`. Throws IOError naming the file.
void save_tensor(const std::filesystem::path& path, const torch::Tensor& tensor);
// Loads a tensor written by save_tensor or by Python's torch.save(tensor, path).
torch::Tensor load_tensor(const std::filesystem::path& path);
// Writes `contents` to path.tmp-XXXX in the same folder, then renames it over `path`.
void write_file_atomically(const std::filesystem::path& path, const std::string& contents);

}  // namespace ddim
