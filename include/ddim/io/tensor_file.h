#pragma once

// Tensors in files Python reads with torch.load (the zip format of torch.save), always written
// through a temporary file and a rename.

#include <torch/torch.h>

#include <filesystem>

#include "ddim/export.h"

namespace ddim {

// Saves a CPU copy of `tensor`. Throws IOError naming the file.
DDIM_API void save_tensor(const std::filesystem::path& path, const torch::Tensor& tensor);
// Loads a tensor written by save_tensor or by Python's torch.save(tensor, path). Throws IOError.
DDIM_API torch::Tensor load_tensor(const std::filesystem::path& path);

}  // namespace ddim
