#pragma once

// What a CLIP tokenizer folder holds once read (clip_tokenizer_files.h reads it): the vocabulary,
// the ranked merges, the special tokens and the byte-level alphabet. Shared, read-only, by copies
// of a ddim::CLIPTokenizer.

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ddim::detail {

// A token matched in the text before BPE (tokenizers' AddedVocabulary): the special tokens.
struct AddedToken {
  std::string content;  // as matched: normalized when `normalized`
  int64_t id = 0;
  bool normalized = false;
};

struct CLIPVocabulary {
  struct PairHash {
    std::size_t operator()(const std::pair<int64_t, int64_t>& p) const noexcept {
      return std::hash<int64_t>()(p.first) * 0x9E3779B97F4A7C15ull ^ std::hash<int64_t>()(p.second);
    }
  };
  struct Merge {
    int64_t rank = 0;    // the line of merges.txt (lower merges first)
    int64_t merged = 0;  // the id of the two tokens joined
  };

  std::unordered_map<std::string, int64_t> vocab;
  std::unordered_map<int64_t, std::string> tokens;  // id -> token, for decoding
  int64_t max_id = -1;                              // the largest id of vocab.json
  // (left id, right id) -> (rank, merged id), as tokenizers' BPE keeps merges.txt.
  std::unordered_map<std::pair<int64_t, int64_t>, Merge, PairHash> merges;
  std::vector<AddedToken> raw_tokens;         // matched in the text as given
  std::vector<AddedToken> normalized_tokens;  // matched in the normalized text
  std::array<std::string, 256> byte_symbols;  // GPT-2's bytes_to_unicode, as UTF-8
  int64_t model_max_length = 0;
  int64_t bos_id = 0, eos_id = 0, pad_id = 0, unk_id = 0;
};

}  // namespace ddim::detail
