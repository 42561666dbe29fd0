#pragma once

// What a run of a conditional model is conditioned on, as ddim-generate's and ddim-invert's flags
// give it: class labels, prompt embeddings from files, and the classifier-free guidance. Both jobs
// hold one; it becomes the Guidance of the pipelines (ddim/pipelines/guidance.h) and is recorded
// in every sidecar of a conditional model, embeddings files with their SHA-256.

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
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
  // --prompt / --negative-prompt: text, for a model folder with a text encoder (text_encoder/ and
  // tokenizer/, scripts/export_model.py); its embeddings are what diffusers' encode_prompt gives.
  // Under guidance the negative prompt defaults to "", as in diffusers. Not with --embeds /
  // --negative-embeds. --clip-skip: the positive prompt's embeddings from the hidden state that many
  // layers before the last (diffusers' clip_skip).
  std::optional<std::string> prompt;
  std::optional<std::string> negative_prompt;
  std::optional<int64_t> clip_skip;

  bool empty() const;
  // The checks that read no file: the scale and rescale ranges, the label list's syntax. Throws
  // UsageError naming the flag.
  void validate() const;
  // The Guidance of a run of `images` images on a model with `config` in `model_dir`: labels parsed
  // and checked against the model, embeddings files read and checked (shape, dtype, finite), prompts
  // encoded by the folder's text encoder. Throws UsageError naming the flag: a condition the model
  // does not take or lacks, a label outside [0, num_class_embeds), "null" on a model whose export
  // records no null class, --negative-embeds missing under guidance on a cross-attention model given
  // --embeds, --prompt on a folder without a text encoder.
  Guidance guidance(const UNetConfig& config, int64_t images, const std::filesystem::path& model_dir) const;
};

}  // namespace ddim
