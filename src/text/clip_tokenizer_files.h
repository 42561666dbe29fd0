#pragma once

// Reads a CLIP tokenizer folder as transformers saves it beside a diffusers pipeline:
// vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json.

#include <filesystem>
#include <memory>

#include "text/clip_vocabulary.h"

namespace ddim::detail {

// The vocabulary, merges and special tokens of `tokenizer_dir`. A missing file, malformed JSON or a
// bad value is a ConfigError naming the file, the key and the value.
std::shared_ptr<const CLIPVocabulary> read_clip_tokenizer_folder(const std::filesystem::path& tokenizer_dir);

}  // namespace ddim::detail
