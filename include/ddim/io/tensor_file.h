#pragma once

// Tensors in files Python reads: torch.save's zip format (torch.load) or safetensors
// (safetensors.torch.load_file), always written through a temporary file and a rename.

#include <torch/torch.h>

#include <filesystem>

#include "ddim/export.h"

namespace ddim {

// Saves a CPU copy of `tensor`: as safetensors (one tensor named "latents") when the path ends in
// .safetensors, else in torch.save's format. Throws IOError naming the file.
DDIM_API void save_tensor(const std::filesystem::path& path, const torch::Tensor& tensor);
// Loads a tensor written by save_tensor, by Python's torch.save(tensor, path), or a safetensors
// file holding one tensor, told apart by content. A torch.save file's zip structure is checked
// against the file's size before LibTorch reads it, and only a plain tensor is accepted; safetensors
// (parsed here, offsets and shape checked) is the format to use for files from elsewhere. Throws
// IOError naming the file.
DDIM_API torch::Tensor load_tensor(const std::filesystem::path& path);

}  // namespace ddim
