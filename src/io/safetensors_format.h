#pragma once

// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the raw
// little-endian data. Designed to be parsed safely; Python's safetensors.torch reads what is written.

#include <torch/torch.h>

#include <string>

namespace ddim::detail {

// One tensor (float32, float64, float16 or bfloat16, on any device) under `name`.
std::string encode_safetensors(const torch::Tensor& tensor, const std::string& name);

// True when the bytes start like a safetensors file (a plausible header length, then '{').
bool looks_like_safetensors(const std::string& bytes);

// The file's single tensor. Throws IOError naming `path` for anything but exactly one tensor of a
// floating dtype whose shape and offsets agree with each other and with the file's size.
torch::Tensor decode_safetensors(const std::string& bytes, const std::string& path);

}  // namespace ddim::detail
