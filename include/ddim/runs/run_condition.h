#pragma once

// What a run of a conditional model is conditioned on, as ddim-generate's and ddim-invert's flags
// give it: class labels, prompt embeddings from files, and the classifier-free guidance. Both jobs
// hold one; it becomes the Guidance of the pipelines (ddim/pipelines/guidance.h) and is recorded
// in every sidecar of a conditional model, embeddings files with their SHA-256.

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>

#include "ddim/export.h"
#include "ddim/models/unet.h"
#include "ddim/pipelines/guidance.h"

namespace ddim {

struct DDIM_API RunCondition {
  // --class-label: "N" for every image, "a,b,c" one label per image, or "null" (the null class the
  // export records).
  std::string class_label;
  // --guidance-scale: unset = the model's default (ddim-generate), 1 (ddim-invert).
  std::optional<double> guidance_scale;
  double guidance_rescale = 0.0;  // --guidance-rescale, in [0, 1]
  // --embeds / --negative-embeds: a safetensors (or torch.save) file holding one tensor (any key, or
  // the key "embeds" among several), [1, L, D] for every image or [N, L, D] one per image.
  std::string embeds;
  std::string negative_embeds;

  bool empty() const;
  // The checks that read no file: the scale and rescale ranges, the label list's syntax. Throws
  // UsageError naming the flag.
  void validate() const;
  // The Guidance of a run of `images` images on a model with `config`: labels parsed and checked
  // against the model, embeddings files read and checked (shape, dtype, finite). Throws UsageError
  // naming the flag: a condition the model does not take or lacks, a label outside
  // [0, num_class_embeds), "null" on a model whose export records no null class, --negative-embeds
  // missing under guidance on a cross-attention model.
  Guidance guidance(const UNetConfig& config, int64_t images) const;
};

}  // namespace ddim
