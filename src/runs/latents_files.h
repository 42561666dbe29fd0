#pragma once

// Latents files as the jobs read and write them: checked on loading, the method they were made
// with, sliced per batch and joined again.

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ddim/io/tensor_file.h"
#include "ddim/pipelines/inversion_method.h"

namespace ddim::detail {

// A latents file for `flag` (--latents, --interpolate): one tensor (any name) or entries with
// "latents"; every batched entry [N, C, H, W] like "latents" and finite, and a floating dtype.
// UsageError naming the flag, the file and what is wrong.
NamedTensors load_latents(const std::string& path, const char* flag);

// The method a latents file was made with: its sidecar's (<file>.json, when there is one) checked
// against the entries the file holds, or, without a sidecar, what the entries say (EDICT's and
// BDIA's carry their parameter; a plain tensor is DDIM's). `steps` becomes the sidecar's or the
// file's step count when there is one. Throws UsageError naming the file when the two disagree.
InversionMethod latents_method(const std::filesystem::path& file, const NamedTensors& latents, int64_t* steps);

// Images [first, first + n) of every batched entry; 0-dim entries (parameters) are kept whole.
NamedTensors slice_latents(const NamedTensors& latents, int64_t first, int64_t n);
// The batches one after the other, entry by entry.
NamedTensors concat_latents(const std::vector<NamedTensors>& batches);
// What a latents file holds: float32 CPU copies of the batched entries (a float64 UNet's latents
// stay float64), the 0-dim parameters as they are.
NamedTensors cpu_latents(const NamedTensors& latents);
// Writes a latents file: a plain tensor when "latents" is all there is (as DDIM and DPM-Solver
// inversion always wrote), else the dict of entries.
void save_latents(const std::filesystem::path& path, const NamedTensors& latents);

// UsageError "<what> holds N non-finite values ..." when the tensor has NaN or inf.
void check_finite(const torch::Tensor& tensor, const std::string& what);

}  // namespace ddim::detail
