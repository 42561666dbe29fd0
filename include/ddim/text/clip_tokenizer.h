#pragma once

// CLIP's byte-level BPE tokenizer, as transformers' CLIPTokenizer (tokenizers backend) runs it when
// diffusers' StableDiffusionPipeline tokenizes a prompt:
//   tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True)
// The same ids for the same UTF-8 text, read from a diffusers folder's tokenizer/ files.

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ddim/export.h"

namespace ddim {

class DDIM_API CLIPTokenizer {
 public:
  // Reads vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json from
  // `tokenizer_dir` (a diffusers folder's tokenizer/). The special tokens and model_max_length come
  // from there as transformers reads them: tokenizer_config.json, overridden by special_tokens_map.json
  // unless the config has added_tokens_decoder. Stable Diffusion 1.x pads with <|endoftext|>, 2.x
  // with "!" (id 0). A missing file, malformed JSON or a bad value is a ConfigError naming the file,
  // the key and the value.
  static CLIPTokenizer from_pretrained(const std::filesystem::path& tokenizer_dir);

  // The ids of one prompt: <|startoftext|>, the prompt's tokens cut to model_max_length() - 2,
  // <|endoftext|>, then pad_token_id() up to model_max_length(). Text that is not valid UTF-8 is a
  // UsageError naming the byte offset.
  std::vector<int64_t> encode(const std::string& utf8) const;

  // The ids without truncation or padding: <|startoftext|>, every token, <|endoftext|>.
  std::vector<int64_t> encode_unpadded(const std::string& utf8) const;

  // input_ids of a batch: int64 [prompts.size(), model_max_length()], each row as encode() gives it.
  torch::Tensor operator()(const std::vector<std::string>& prompts) const;

  int64_t model_max_length() const;
  int64_t pad_token_id() const;
  int64_t bos_token_id() const;
  int64_t eos_token_id() const;
  int64_t unk_token_id() const;
  int64_t vocab_size() const;

  // The Unicode version of the linked utf8proc (utf8proc_unicode_version()).
  static std::string unicode_version();

  // The vocabulary, merges and special tokens (opaque; shared by copies of a tokenizer).
  struct Data;

 private:
  explicit CLIPTokenizer(std::shared_ptr<const Data> data);
  std::shared_ptr<const Data> data_;
};

}  // namespace ddim
