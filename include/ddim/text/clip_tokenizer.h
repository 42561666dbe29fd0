#pragma once

// CLIP's byte-level BPE tokenizer, as transformers' CLIPTokenizer (tokenizers backend) runs it when
// diffusers' StableDiffusionPipeline tokenizes a prompt:
//   tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True)
// The same ids for the same UTF-8 text, read from a diffusers folder's tokenizer/ files.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ddim/export.h"

namespace ddim {
namespace detail {
struct CLIPVocabulary;
}

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
  // UsageError naming the byte offset. Tokenizing stops once the kept tokens are known, so the work
  // does not grow with text past them. When tokens were cut and `dropped` is given, it receives the
  // start of the text they spell (diffusers logs the cut part), "" when nothing was cut.
  std::vector<int64_t> encode(const std::string& utf8, std::string* dropped = nullptr) const;

  // The ids without truncation or padding: <|startoftext|>, every token, <|endoftext|>.
  std::vector<int64_t> encode_unpadded(const std::string& utf8) const;

  // input_ids of a batch: int64 [prompts.size(), model_max_length()], each row as encode() gives it.
  at::Tensor operator()(const std::vector<std::string>& prompts) const;

  int64_t model_max_length() const;
  int64_t pad_token_id() const;
  int64_t bos_token_id() const;
  int64_t eos_token_id() const;
  int64_t unk_token_id() const;
  int64_t vocab_size() const;
  // The largest id vocab.json gives (every special token's id is one of them): a text encoder must
  // have more rows than this.
  int64_t max_token_id() const;

  // The Unicode version of the linked utf8proc (utf8proc_unicode_version()).
  static std::string unicode_version();

  // The text of `ids` (byte-level symbols back to UTF-8, "</w>" as a space), as transformers'
  // decode gives it; ids outside the vocabulary are skipped.
  std::string decode(const std::vector<int64_t>& ids) const;

 private:
  DDIM_HIDDEN explicit CLIPTokenizer(std::shared_ptr<const detail::CLIPVocabulary> data);
  // The vocabulary, merges and special tokens, shared by copies of a tokenizer.
  std::shared_ptr<const detail::CLIPVocabulary> data_;
};

}  // namespace ddim
