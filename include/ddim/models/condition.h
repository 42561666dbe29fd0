#pragma once

// What a conditional UNet takes beside the sample and the timestep, as named tensors: the inputs of
// diffusers' UNet2DModel(sample, timestep, class_labels=...) and
// UNet2DConditionModel(sample, timestep, encoder_hidden_states, class_labels=...). An empty
// Condition is the unconditional call.

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "ddim/export.h"

namespace ddim {

struct DDIM_API Condition {
  // [B] int64: a row of the UNet's class embedding table per image (UNetConfig::num_class_embeds).
  torch::Tensor class_labels;
  // [B, L, D] floating: what cross-attention attends to (a text encoder's prompt embeddings).
  torch::Tensor encoder_hidden_states;

  bool empty() const { return !class_labels.defined() && !encoder_hidden_states.defined(); }
  // The batch of the defined tensors (their first dimension); 0 when empty. Throws UsageError when
  // the two disagree.
  int64_t batch_size() const;
  // Rows [start, end) of each defined tensor.
  Condition slice(int64_t start, int64_t end) const;
  // A batch-1 condition repeated to `batch` rows (a batch-`batch` one as it is); UsageError naming
  // the input otherwise.
  Condition expanded(int64_t batch, const std::string& what = "condition") const;
  // On `device`; encoder_hidden_states in `dtype` (class labels stay int64).
  Condition to(torch::Device device, torch::ScalarType dtype) const;
  // `first` then `second` along the batch, as classifier-free guidance concatenates them; both must
  // define the same inputs.
  static Condition cat(const Condition& first, const Condition& second);
};

}  // namespace ddim
