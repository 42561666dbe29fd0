#pragma once

// The Unicode side of CLIP's tokenizer: strict UTF-8 in and out, the character classes its
// pre-tokenizer's regex sees, and its normalizer (NFC, white space runs to one space, lowercase),
// each as the pinned tokenizers library applies them (clip_unicode_tables.h holds where utf8proc's
// Unicode version differs). All linear in the text.

#include <string>

namespace ddim::detail {

void append_utf8(std::string& out, char32_t cp);
std::string to_utf8(const std::u32string& text);
// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF); anything else is a
// UsageError naming the byte offset and the byte.
std::u32string decode_utf8(const std::string& text);
// The same, with each byte that is not part of a UTF-8 character read as U+FFFD.
std::u32string decode_utf8_lenient(const std::string& text);

// The class the pre-tokenizer's regex sees: 'L' (\p{L}), 'N' (\p{N}), 'S' (\s) or 'P' (the rest).
char char_class(char32_t cp);

// CLIPTokenizer's normalizer: NFC, every run of \s replaced by one space, then lowercase. No strip.
std::u32string normalize(const std::u32string& text);

}  // namespace ddim::detail
