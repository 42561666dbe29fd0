#pragma once

// CLIP's tokenization of text into ids, as the pinned tokenizers library runs it: the special
// tokens matched first, the normalizer, the pre-tokenizer's words, then byte-level BPE on each
// word. Near-linear in the text: BPE takes the lowest-ranked pair from a heap, and tokenizing
// stops once it has the tokens the caller asked for.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "text/clip_vocabulary.h"

namespace ddim::detail {

// The ids of `utf8` without <|startoftext|>, <|endoftext|> or padding: all of them, or, with a
// `limit`, the first `limit` and possibly a few more (each word's tokens come whole). Text that
// is not valid UTF-8 is a UsageError naming the byte offset.
std::vector<int64_t> tokenize(const CLIPVocabulary& vocabulary, const std::string& utf8,
                              std::size_t limit = std::numeric_limits<std::size_t>::max());

// The text of `ids`, as transformers' decode gives it: byte-level symbols back to bytes, "</w>" as
// a space; bytes that are not UTF-8 (a token cut mid-character) become U+FFFD.
std::string decode(const CLIPVocabulary& vocabulary, const std::vector<int64_t>& ids);

}  // namespace ddim::detail
