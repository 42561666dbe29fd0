#include "text/clip_unicode.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <vector>

#include "ddim/errors.h"
#include "text/clip_unicode_tables.h"

namespace ddim::detail {
namespace {

using clip_unicode::kClassOverrides;
using clip_unicode::kLowercaseOverrides;
using clip_unicode::kNfcOpaque;

template <typename Range>
const Range* find_range(const Range* begin, const Range* end, char32_t cp) {
  const Range* it = std::upper_bound(begin, end, cp, [](char32_t c, const Range& r) { return c < r.first; });
  if (it == begin) return nullptr;
  --it;
  return cp <= it->last ? it : nullptr;
}

// Rust's char::to_lowercase, which tokenizers' Lowercase applies character by character: the
// simple mapping except U+0130, whose full lowercase is two characters (no Final_Sigma context).
void append_lowercase(std::u32string& out, char32_t cp) {
  if (cp == 0x130) {
    out += U'i';
    out += char32_t{0x307};
    return;
  }
  const auto* end = std::end(kLowercaseOverrides);
  const auto* it =
      std::lower_bound(std::begin(kLowercaseOverrides), end, cp, [](const auto& m, char32_t c) { return m.from < c; });
  if (it != end && it->from == cp) {
    out += it->to;
    return;
  }
  out += static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
}

// utf8proc's NFC of `segment`, as utf8proc_decompose then utf8proc_normalize_utf32 give it, in
// n log n: utf8proc_decompose puts each run of combining marks in canonical order by swapping
// neighbours, quadratic in the run's length (a prompt of one letter and 40 000 marks took seconds),
// so the decomposition is made character by character here and each run is sorted by a stable sort
// on the combining class, which is the same order.
void append_nfc(std::u32string& out, const std::u32string& segment) {
  if (segment.empty()) return;
  const auto options = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  const auto failed = [](utf8proc_ssize_t code) {
    return Error(std::string("CLIPTokenizer: utf8proc NFC failed: ") + utf8proc_errmsg(code));
  };
  std::vector<utf8proc_int32_t> buffer;
  buffer.reserve(segment.size());
  utf8proc_int32_t decomposed[32];  // a canonical decomposition is at most 4 code points
  int boundclass = UTF8PROC_BOUNDCLASS_START;
  for (const char32_t cp : segment) {
    const utf8proc_ssize_t n =
        utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), decomposed, 32, options, &boundclass);
    if (n < 0 || n > 32) throw failed(n < 0 ? n : UTF8PROC_ERROR_OVERFLOW);
    buffer.insert(buffer.end(), decomposed, decomposed + n);
  }
  const auto ccc = [](utf8proc_int32_t cp) { return utf8proc_get_property(cp)->combining_class; };
  for (std::size_t start = 0; start < buffer.size();) {
    if (ccc(buffer[start]) == 0) {
      ++start;
      continue;
    }
    std::size_t end = start + 1;
    while (end < buffer.size() && ccc(buffer[end]) != 0) ++end;
    std::stable_sort(buffer.begin() + static_cast<std::ptrdiff_t>(start),
                     buffer.begin() + static_cast<std::ptrdiff_t>(end),
                     [&](utf8proc_int32_t a, utf8proc_int32_t b) { return ccc(a) < ccc(b); });
    start = end;
  }
  const utf8proc_ssize_t n =
      utf8proc_normalize_utf32(buffer.data(), static_cast<utf8proc_ssize_t>(buffer.size()), options);
  if (n < 0) throw failed(n);
  for (utf8proc_ssize_t k = 0; k < n; ++k) out += static_cast<char32_t>(buffer[static_cast<std::size_t>(k)]);
}

// tokenizers' NFC: its normalization data predates utf8proc's, and the characters it does not know
// (kNfcOpaque) stay where they are as starters; NFC of the pieces between them is utf8proc's.
std::u32string nfc(const std::u32string& text) {
  std::u32string out, segment;
  for (char32_t cp : text) {
    if (find_range(std::begin(kNfcOpaque), std::end(kNfcOpaque), cp)) {
      append_nfc(out, segment);
      segment.clear();
      out += cp;
    } else {
      segment += cp;
    }
  }
  append_nfc(out, segment);
  return out;
}

}  // namespace

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string to_utf8(const std::u32string& text) {
  std::string out;
  for (char32_t cp : text) append_utf8(out, cp);
  return out;
}

namespace {

// One code point of strict UTF-8 at text[i] (no overlong forms, surrogates or code points past
// U+10FFFF): its length in bytes, or 0 when the bytes there are not UTF-8.
std::size_t decode_one(const std::string& text, std::size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  std::size_t len = 0;
  char32_t min = 0;
  cp = 0;
  if (b0 < 0x80) {
    len = 1, cp = b0;
  } else if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  }
  bool ok = len > 0 && i + len <= text.size();
  for (std::size_t k = 1; ok && k < len; ++k) {
    const auto b = static_cast<unsigned char>(text[i + k]);
    ok = (b & 0xC0) == 0x80;
    cp = (cp << 6) | (b & 0x3F);
  }
  ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
  return ok ? len : 0;
}

}  // namespace

std::u32string decode_utf8(const std::string& text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    const std::size_t len = decode_one(text, i, cp);
    if (len == 0) {
      char byte[8];
      std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[i]));
      throw UsageError("CLIPTokenizer: the text is not valid UTF-8 at byte " + std::to_string(i) + " (" + byte + ")");
    }
    out += cp;
    i += len;
  }
  return out;
}

std::u32string decode_utf8_lenient(const std::string& text) {
  std::u32string out;
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    const std::size_t len = decode_one(text, i, cp);
    out += len == 0 ? char32_t{0xFFFD} : cp;
    i += len == 0 ? 1 : len;
  }
  return out;
}

// The class the pre-tokenizer's regex sees: 'L' (\p{L}), 'N' (\p{N}), 'S' (\s) or 'P' (the rest).
char char_class(char32_t cp) {
  if (const auto* r = find_range(std::begin(kClassOverrides), std::end(kClassOverrides), cp)) return r->cls;
  // Oniguruma's \s: U+0009..U+000D, U+0085 and the separators Zs, Zl, Zp.
  if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x85) return 'S';
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
      return 'S';
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return 'L';
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return 'N';
    default:
      return 'P';
  }
}

// CLIPTokenizer's normalizer: NFC, every run of \s replaced by one space, then lowercase. No strip.
std::u32string normalize(const std::u32string& text) {
  const std::u32string composed = nfc(text);
  std::u32string out;
  for (std::size_t i = 0; i < composed.size(); ++i) {
    if (char_class(composed[i]) == 'S') {
      while (i + 1 < composed.size() && char_class(composed[i + 1]) == 'S') ++i;
      out += U' ';
    } else {
      append_lowercase(out, composed[i]);
    }
  }
  return out;
}

}  // namespace ddim::detail
