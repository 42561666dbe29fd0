#pragma once

// Reads a CLIP tokenizer folder as transformers saves it beside a diffusers pipeline:
// vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json.

#include <filesystem>
#include <memory>

#include "text/clip_vocabulary.h"

namespace ddim::detail {

// The files of a tokenizer folder this reader reads (special_tokens_map.json only where it exists):
// what a sidecar's digests of the tokenizer cover.
inline constexpr const char* kCLIPTokenizerFiles[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                                      "special_tokens_map.json"};

// The vocabulary, merges and special tokens of `tokenizer_dir`. A missing file, malformed JSON or a
// bad value is a ConfigError naming the file, the key and the value.
std::shared_ptr<const CLIPVocabulary> read_clip_tokenizer_folder(const std::filesystem::path& tokenizer_dir);

}  // namespace ddim::detail
