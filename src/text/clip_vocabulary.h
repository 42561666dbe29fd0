#pragma once

// What a CLIP tokenizer folder holds once read (clip_tokenizer_files.h reads it): the vocabulary,
// the ranked merges, the special tokens and the byte-level alphabet. Shared, read-only, by copies
// of a ddim::CLIPTokenizer.

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace ddim::detail {

// A token matched in the text before BPE (tokenizers' AddedVocabulary): the special tokens.
struct AddedToken {
  std::string content;  // as matched: normalized when `normalized`
  int64_t id = 0;
  bool normalized = false;
};

struct CLIPVocabulary {
  // Ids are below 2^31 (the reader refuses larger ones), so a pair of them is one 64-bit key.
  static constexpr int64_t kIdLimit = int64_t{1} << 31;
  static uint64_t pair_key(int64_t left, int64_t right) {
    return (static_cast<uint64_t>(left) << 32) | static_cast<uint64_t>(right);
  }
  struct Merge {
    int64_t rank = 0;    // the line of merges.txt (lower merges first)
    int64_t merged = 0;  // the id of the two tokens joined
  };

  std::unordered_map<std::string, int64_t> vocab;
  std::unordered_map<int64_t, std::string> tokens;  // id -> token, for decoding
  int64_t max_id = -1;                              // the largest id of vocab.json
  // pair_key(left id, right id) -> (rank, merged id), as tokenizers' BPE keeps merges.txt.
  std::unordered_map<uint64_t, Merge> merges;
  std::vector<AddedToken> raw_tokens;         // matched in the text as given
  std::vector<AddedToken> normalized_tokens;  // matched in the normalized text
  std::array<std::string, 256> byte_symbols;  // GPT-2's bytes_to_unicode, as UTF-8
  // The id of each byte's symbol, and of the symbol with "</w>" (a word's last byte); unk_id where
  // the vocabulary lacks it.
  std::array<int64_t, 256> byte_ids{}, last_byte_ids{};
  int64_t model_max_length = 0;
  int64_t bos_id = 0, eos_id = 0, pad_id = 0, unk_id = 0;
};

}  // namespace ddim::detail
