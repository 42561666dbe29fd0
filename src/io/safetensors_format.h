#pragma once

// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the raw
// little-endian data. Designed to be parsed safely; Python's safetensors.torch reads what is written.

#include <torch/torch.h>

#include <map>
#include <string>

namespace ddim::detail {

// Named tensors (float32, float64, float16 or bfloat16, on any device), in name order.
std::string encode_safetensors(const std::map<std::string, torch::Tensor>& tensors);

// True when the bytes start like a safetensors file (a plausible header length, then '{').
bool looks_like_safetensors(const std::string& bytes);

// The file's tensors by name. Throws IOError naming `path` for anything but one or more tensors of
// a floating dtype whose shapes and offsets agree with each other and with the file's size (the
// entries' data together no larger than the data section).
std::map<std::string, torch::Tensor> decode_safetensors(const std::string& bytes, const std::string& path);

}  // namespace ddim::detail
