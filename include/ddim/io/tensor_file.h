#pragma once

// Tensors in files Python reads: torch.save's zip format (torch.load) or safetensors
// (safetensors.torch.load_file), always written through a temporary file and a rename.

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>

#include "ddim/export.h"

namespace ddim {

// Saves a CPU copy of `tensor`: as safetensors (one tensor named "latents") when the path ends in
// .safetensors, else in torch.save's format. Throws IOError naming the file.
DDIM_API void save_tensor(const std::filesystem::path& path, const torch::Tensor& tensor);
// Tensors by name: what a latents file of an inversion method holds ("latents", and for EDICT and
// BDIA the companion state their sampler needs; see InversionMethod).
using NamedTensors = std::map<std::string, torch::Tensor>;

// Saves CPU copies of `tensors`: as safetensors (one entry per name) when the path ends in
// .safetensors, else as a dict of tensors in torch.save's format (torch.load returns a dict).
DDIM_API void save_tensors(const std::filesystem::path& path, const NamedTensors& tensors);

// Loads a tensor written by save_tensor, by Python's torch.save(tensor, path), or a safetensors
// file holding one tensor, told apart by content. A torch.save file's zip structure is checked
// against the file's size before LibTorch reads it, and only a plain tensor is accepted; safetensors
// (parsed here, offsets and shape checked) is the format to use for files from elsewhere. Throws
// IOError naming the file.
DDIM_API torch::Tensor load_tensor(const std::filesystem::path& path);
// Loads a file of save_tensor or save_tensors: a single tensor comes back under "latents", a dict
// of tensors (torch.save's or safetensors' entries) under its names. The same checks as load_tensor;
// anything but a tensor or a dict from strings to tensors is an IOError naming the file.
DDIM_API NamedTensors load_tensors(const std::filesystem::path& path);

}  // namespace ddim
