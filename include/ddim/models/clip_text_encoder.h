#pragma once

// A Stable Diffusion folder's text side: transformers' CLIPTextModel compiled ahead of time by
// AOTInductor into text_encoder/model.pt2 (scripts/export_model.py, scripts/export_text_encoder.py),
// and the CLIP tokenizer of tokenizer/. It gives the prompt embeddings diffusers'
// StableDiffusionPipeline.encode_prompt computes for a prompt.

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ddim/export.h"
#include "ddim/text/clip_tokenizer.h"

namespace ddim {

class DDIM_API CLIPTextEncoder {
 public:
  // model_dir holds text_encoder/model.pt2 and tokenizer/. The device must be the CPU (the only
  // kind of text-encoder package the export makes). The package's metadata is checked before its
  // code is loaded: a ConfigError naming the file and the export that fixes it is thrown when it is
  // missing or damaged, or was compiled for another torch version or for CPU features this machine
  // lacks, or when the tokenizer's model_max_length is not the package's sequence length.
  CLIPTextEncoder(const std::filesystem::path& model_dir, torch::Device device);
  ~CLIPTextEncoder();
  CLIPTextEncoder(const CLIPTextEncoder&) = delete;
  CLIPTextEncoder& operator=(const CLIPTextEncoder&) = delete;

  // Whether model_dir has a text encoder (text_encoder/model.pt2).
  static bool exists(const std::filesystem::path& model_dir);

  // prompt_embeds as encode_prompt computes them, one row per prompt: [prompts.size(), L, D]
  // float32. Each prompt is tokenized as the pipeline does it (padded and truncated to
  // model_max_length); without clip_skip the embeddings are the encoder's last_hidden_state,
  // with it final_layer_norm(hidden_states[-(clip_skip + 1)]). diffusers applies clip_skip to the
  // positive prompt only: encode the negative prompt without it. A clip_skip outside
  // [0, num_hidden_layers()] is a UsageError naming the value; text that is not UTF-8 a UsageError.
  torch::Tensor encode(const std::vector<std::string>& prompts, std::optional<int64_t> clip_skip = std::nullopt);

  const CLIPTokenizer& tokenizer() const { return tokenizer_; }
  int64_t sequence_length() const { return sequence_length_; }
  int64_t hidden_size() const { return hidden_size_; }
  int64_t num_hidden_layers() const { return num_hidden_layers_; }
  // The package file.
  const std::filesystem::path& package() const { return package_; }

 private:
  struct Model;
  std::unique_ptr<Model> model_;
  CLIPTokenizer tokenizer_;
  std::filesystem::path package_;
  int64_t sequence_length_ = 0;
  int64_t hidden_size_ = 0;
  int64_t num_hidden_layers_ = 0;
};

}  // namespace ddim
