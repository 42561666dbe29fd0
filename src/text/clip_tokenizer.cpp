#include "ddim/text/clip_tokenizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>
#include <utility>

#include "ddim/errors.h"
#include "ddim/io/files.h"
#include "io/json_values.h"
#include "text/clip_unicode_tables.h"

namespace ddim {

namespace detail {

// A token matched in the text before BPE (tokenizers' AddedVocabulary): the special tokens.
struct AddedToken {
  std::string content;  // as matched: normalized when `normalized`
  int64_t id = 0;
  bool normalized = false;
};

}  // namespace detail

struct CLIPTokenizer::Data {
  std::unordered_map<std::string, int64_t> vocab;
  // (left id, right id) -> (rank, merged id), as tokenizers' BPE keeps merges.txt.
  std::map<std::pair<int64_t, int64_t>, std::pair<int64_t, int64_t>> merges;
  std::vector<detail::AddedToken> raw_tokens;         // matched in the text as given
  std::vector<detail::AddedToken> normalized_tokens;  // matched in the normalized text
  std::array<std::string, 256> byte_symbols;          // GPT-2's bytes_to_unicode, as UTF-8
  int64_t model_max_length = 0;
  int64_t bos_id = 0, eos_id = 0, pad_id = 0, unk_id = 0;
};

namespace detail {
namespace {

using Data = CLIPTokenizer::Data;

using clip_unicode::kClassOverrides;
using clip_unicode::kLowercaseOverrides;
using clip_unicode::kNfcOpaque;

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

// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
std::u32string decode_utf8(const std::string& text) {
  std::u32string out;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    int len = 0;
    char32_t cp = 0;
    char32_t min = 0;
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
    for (int k = 1; ok && k < len; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      ok = (b & 0xC0) == 0x80;
      cp = (cp << 6) | (b & 0x3F);
    }
    ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (!ok) {
      char byte[8];
      std::snprintf(byte, sizeof byte, "0x%02X", b0);
      throw UsageError("CLIPTokenizer: the text is not valid UTF-8 at byte " + std::to_string(i) + " (" + byte + ")");
    }
    out += cp;
    i += static_cast<std::size_t>(len);
  }
  return out;
}

template <typename Range>
const Range* find_range(const Range* begin, const Range* end, char32_t cp) {
  const Range* it = std::upper_bound(begin, end, cp, [](char32_t c, const Range& r) { return c < r.first; });
  if (it == begin) return nullptr;
  --it;
  return cp <= it->last ? it : nullptr;
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

void append_nfc(std::u32string& out, const std::u32string& segment) {
  if (segment.empty()) return;
  const std::string utf8 = to_utf8(segment);
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(utf8.data());
  const auto options = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  const auto size = static_cast<utf8proc_ssize_t>(utf8.size());
  utf8proc_ssize_t n = utf8proc_decompose(bytes, size, nullptr, 0, options);
  std::vector<utf8proc_int32_t> buffer(static_cast<std::size_t>(std::max<utf8proc_ssize_t>(n, 1)));
  n = utf8proc_decompose(bytes, size, buffer.data(), n, options);
  if (n >= 0) n = utf8proc_normalize_utf32(buffer.data(), n, options);
  if (n < 0) throw Error(std::string("CLIPTokenizer: utf8proc NFC failed: ") + utf8proc_errmsg(n));
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

bool starts_with(const std::u32string& text, std::size_t pos, const std::u32string& prefix) {
  return text.compare(pos, prefix.size(), prefix) == 0;
}

// The pre-tokenizer: Split(<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|
// [^\s\p{L}\p{N}]+, keeping the matches), then ByteLevel's GPT-2 split, which only cuts the two
// special spellings into "<|", the word and "|>". Everything between matches (\s) is dropped.
std::vector<std::u32string> pre_tokenize(const std::u32string& text) {
  static const std::u32string kStart = U"<|startoftext|>", kEnd = U"<|endoftext|>";
  std::vector<std::u32string> words;
  std::size_t i = 0;
  while (i < text.size()) {
    const char32_t c = text[i];
    if (starts_with(text, i, kStart) || starts_with(text, i, kEnd)) {
      const std::size_t len = starts_with(text, i, kStart) ? kStart.size() : kEnd.size();
      words.push_back(U"<|");
      words.push_back(text.substr(i + 2, len - 4));
      words.push_back(U"|>");
      i += len;
      continue;
    }
    if (c == U'\'' && i + 1 < text.size()) {
      const char32_t n = text[i + 1];
      if (n == U's' || n == U't' || n == U'm' || n == U'd') {
        words.push_back(text.substr(i, 2));
        i += 2;
        continue;
      }
      if (starts_with(text, i, U"'re") || starts_with(text, i, U"'ve") || starts_with(text, i, U"'ll")) {
        words.push_back(text.substr(i, 3));
        i += 3;
        continue;
      }
    }
    const char cls = char_class(c);
    if (cls == 'S') {
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    if (cls == 'L' || cls == 'P') {
      while (j < text.size() && char_class(text[j]) == cls) ++j;
    }
    words.push_back(text.substr(i, j - i));
    i = j;
  }
  return words;
}

// tokenizers' BPE on one word: its bytes as byte-level symbols, "</w>" on the last one, then the
// lowest-ranked adjacent pair merged (leftmost first on a tie) until no pair has a merge.
void bpe(const Data& d, const std::u32string& word, std::vector<int64_t>& out) {
  const std::string bytes = to_utf8(word);
  std::vector<int64_t> symbols;
  symbols.reserve(bytes.size());
  for (std::size_t k = 0; k < bytes.size(); ++k) {
    std::string symbol = d.byte_symbols[static_cast<unsigned char>(bytes[k])];
    if (k + 1 == bytes.size()) symbol += "</w>";
    const auto it = d.vocab.find(symbol);
    symbols.push_back(it == d.vocab.end() ? d.unk_id : it->second);
  }
  while (symbols.size() > 1) {
    std::size_t best = 0;
    std::pair<int64_t, int64_t> best_merge{-1, -1};
    for (std::size_t k = 0; k + 1 < symbols.size(); ++k) {
      const auto it = d.merges.find({symbols[k], symbols[k + 1]});
      if (it != d.merges.end() && (best_merge.first < 0 || it->second.first < best_merge.first)) {
        best = k;
        best_merge = it->second;
      }
    }
    if (best_merge.first < 0) break;
    symbols[best] = best_merge.second;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
}

// Splits `text` on the added tokens (leftmost match, the longest where several start there, as
// tokenizers' Aho-Corasick does): calls on_text for the pieces between and on_token for each match.
template <typename String, typename OnText, typename OnToken>
void split_on_tokens(const String& text, const std::vector<std::pair<String, int64_t>>& tokens, OnText on_text,
                     OnToken on_token) {
  std::size_t start = 0, i = 0;
  while (i < text.size()) {
    std::size_t best_len = 0;
    int64_t best_id = 0;
    for (const auto& [content, id] : tokens) {
      if (content.size() > best_len && text.compare(i, content.size(), content) == 0) {
        best_len = content.size();
        best_id = id;
      }
    }
    if (best_len == 0) {
      ++i;
      continue;
    }
    if (i > start) on_text(text.substr(start, i - start));
    on_token(best_id);
    i += best_len;
    start = i;
  }
  if (start < text.size()) on_text(text.substr(start));
}

std::vector<int64_t> tokenize(const Data& d, const std::string& utf8) {
  decode_utf8(utf8);  // refuses invalid UTF-8 before anything else
  std::vector<std::pair<std::string, int64_t>> raw;
  for (const auto& t : d.raw_tokens) raw.emplace_back(t.content, t.id);
  std::vector<std::pair<std::u32string, int64_t>> normalized;
  for (const auto& t : d.normalized_tokens) normalized.emplace_back(decode_utf8(t.content), t.id);

  std::vector<int64_t> ids;
  const auto on_token = [&](int64_t id) { ids.push_back(id); };
  const auto on_normalized_text = [&](const std::u32string& piece) {
    for (const auto& word : pre_tokenize(piece)) bpe(d, word, ids);
  };
  split_on_tokens(
      utf8, raw,
      [&](const std::string& piece) {
        split_on_tokens(normalize(decode_utf8(piece)), normalized, on_normalized_text, on_token);
      },
      on_token);
  return ids;
}

// --- Reading the tokenizer folder -------------------------------------------------------------

nlohmann::json read_json(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw ConfigError("CLIPTokenizer: " + one_line(path.string()) + " is missing (a tokenizer folder has it)");
  }
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError("CLIPTokenizer: " + one_line(path.string()) + " is not valid JSON: " + one_line(e.what()));
  }
}

// A special token as transformers builds it from a config value: a string, or an AddedToken
// object ({"content": ..., "normalized": ..., ...}). `normalized_default` is what AddedToken gives
// when the object has no "normalized" (tokenizers: not special).
struct TokenSpec {
  std::string content;
  bool normalized = false;
};

std::optional<TokenSpec> token_spec(const nlohmann::json& value, const std::string& where, bool special) {
  if (value.is_null()) return std::nullopt;
  if (value.is_string()) return TokenSpec{value.get<std::string>(), false};
  if (!value.is_object() || !value.contains("content") || !value["content"].is_string()) {
    throw ConfigError("CLIPTokenizer: " + where + " is " + json_excerpt(value) +
                      ", expected a string or an object with a string \"content\"");
  }
  auto flag = [&](const char* key, bool fallback) {
    if (!value.contains(key)) return fallback;
    if (!value[key].is_boolean()) {
      throw ConfigError("CLIPTokenizer: " + where + "." + key + " is " + json_excerpt(value[key]) +
                        ", expected true or false");
    }
    return value[key].get<bool>();
  };
  if (value.contains("special")) special = flag("special", special);
  for (const char* key : {"lstrip", "rstrip", "single_word"}) {
    if (flag(key, false)) {
      throw ConfigError("CLIPTokenizer: " + where + "." + key + " is true, which this tokenizer does not support");
    }
  }
  return TokenSpec{value["content"].get<std::string>(), flag("normalized", !special)};
}

int64_t token_id(const Data& d, const std::string& content, const std::string& where) {
  const auto it = d.vocab.find(content);
  if (it == d.vocab.end()) {
    throw ConfigError("CLIPTokenizer: " + where + " \"" + one_line(content) + "\" is not in vocab.json");
  }
  return it->second;
}

}  // namespace
}  // namespace detail

CLIPTokenizer::CLIPTokenizer(std::shared_ptr<const Data> data) : data_(std::move(data)) {}

CLIPTokenizer CLIPTokenizer::from_pretrained(const std::filesystem::path& tokenizer_dir) {
  using detail::json_excerpt;
  auto d = std::make_shared<Data>();

  // GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the rest map to U+0100...
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    std::string symbol;
    detail::append_utf8(symbol, printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + extra++));
    d->byte_symbols[static_cast<std::size_t>(b)] = symbol;
  }

  const auto vocab_path = tokenizer_dir / "vocab.json";
  const nlohmann::json vocab = detail::read_json(vocab_path);
  if (!vocab.is_object()) {
    throw ConfigError("CLIPTokenizer: " + one_line(vocab_path.string()) + " is " + json_excerpt(vocab) +
                      ", expected an object of token: id");
  }
  for (const auto& [token, id] : vocab.items()) {
    const auto value = detail::json_int64(id);
    if (!value || *value < 0) {
      throw ConfigError("CLIPTokenizer: " + one_line(vocab_path.string()) + " gives \"" + one_line(token) +
                        "\" the id " + json_excerpt(id) + ", expected an integer >= 0");
    }
    d->vocab[token] = *value;
  }

  const auto merges_path = tokenizer_dir / "merges.txt";
  if (!std::filesystem::is_regular_file(merges_path)) {
    throw ConfigError("CLIPTokenizer: " + one_line(merges_path.string()) + " is missing (a tokenizer folder has it)");
  }
  const std::string merges = read_file(merges_path);
  int64_t rank = 0;
  std::size_t line_no = 0;
  for (std::size_t pos = 0; pos < merges.size();) {
    std::size_t end = merges.find('\n', pos);
    if (end == std::string::npos) end = merges.size();
    std::string line = merges.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("#version", 0) == 0) continue;
    const std::size_t space = line.find(' ');
    const auto bad = [&](const std::string& why) {
      return ConfigError("CLIPTokenizer: " + one_line(merges_path.string()) + " line " + std::to_string(line_no) +
                         " \"" + one_line(line) + "\" " + why);
    };
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
      throw bad("is not two tokens separated by one space");
    }
    const std::string left = line.substr(0, space), right = line.substr(space + 1);
    const auto a = d->vocab.find(left), b = d->vocab.find(right), merged = d->vocab.find(left + right);
    if (a == d->vocab.end() || b == d->vocab.end() || merged == d->vocab.end()) {
      throw bad("names a token that is not in vocab.json");
    }
    d->merges[{a->second, b->second}] = {rank++, merged->second};
  }

  // The special tokens, as transformers' from_pretrained and TokenizersBackend put them together.
  const auto config_path = tokenizer_dir / "tokenizer_config.json";
  const nlohmann::json config = detail::read_json(config_path);
  if (!config.is_object()) {
    throw ConfigError("CLIPTokenizer: " + one_line(config_path.string()) + " is " + json_excerpt(config) +
                      ", expected an object");
  }
  const std::string config_name = one_line(config_path.filename().string());
  std::vector<detail::TokenSpec> added;  // in the order they are added; a later one wins
  std::map<std::string, detail::TokenSpec> named;
  const std::array<const char*, 7> kNamed = {"bos_token", "eos_token", "unk_token", "sep_token",
                                             "pad_token", "cls_token", "mask_token"};
  const std::map<std::string, std::string> kDefaults = {{"bos_token", "<|startoftext|>"},
                                                        {"eos_token", "<|endoftext|>"},
                                                        {"unk_token", "<|endoftext|>"},
                                                        {"pad_token", "<|endoftext|>"}};
  for (const char* key : kNamed) {
    if (config.contains(key)) {
      if (auto spec = detail::token_spec(config[key], config_name + " " + key, false)) named[key] = *spec;
    } else if (kDefaults.count(key)) {
      named[key] = {kDefaults.at(key), false};
    }
  }
  std::vector<std::string> decoder_contents;
  if (config.contains("added_tokens_decoder")) {
    // This form of the config is complete: transformers reads no special_tokens_map.json then.
    const auto& decoder = config["added_tokens_decoder"];
    if (!decoder.is_object()) {
      throw ConfigError("CLIPTokenizer: " + config_name + " added_tokens_decoder is " + json_excerpt(decoder) +
                        ", expected an object of id: token");
    }
    std::vector<std::pair<int64_t, detail::TokenSpec>> entries;
    for (const auto& [key, value] : decoder.items()) {
      int64_t index = 0;
      try {
        std::size_t used = 0;
        index = std::stoll(key, &used);
        if (used != key.size()) throw std::invalid_argument(key);
      } catch (const std::exception&) {
        throw ConfigError("CLIPTokenizer: " + config_name + " added_tokens_decoder has the key \"" + one_line(key) +
                          "\", expected an integer id");
      }
      auto spec = detail::token_spec(value, config_name + " added_tokens_decoder." + key, false);
      if (!spec) {
        throw ConfigError("CLIPTokenizer: " + config_name + " added_tokens_decoder." + key + " is null");
      }
      entries.emplace_back(index, *spec);
    }
    std::sort(entries.begin(), entries.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    for (const auto& [index, spec] : entries) {
      added.push_back(spec);
      decoder_contents.push_back(spec.content);
    }
  } else {
    const auto map_path = tokenizer_dir / "special_tokens_map.json";
    if (std::filesystem::exists(map_path)) {
      const nlohmann::json map = detail::read_json(map_path);
      if (!map.is_object()) {
        throw ConfigError("CLIPTokenizer: " + one_line(map_path.string()) + " is " + json_excerpt(map) +
                          ", expected an object");
      }
      for (const char* key : kNamed) {
        if (!map.contains(key)) continue;
        auto spec = detail::token_spec(map[key], "special_tokens_map.json " + std::string(key), true);
        if (spec) {
          named[key] = *spec;
        } else {
          named.erase(key);
        }
      }
    }
  }
  for (const char* key : kNamed) {
    const auto it = named.find(key);
    if (it == named.end()) continue;
    if (std::find(decoder_contents.begin(), decoder_contents.end(), it->second.content) != decoder_contents.end()) {
      continue;
    }
    added.push_back(it->second);
  }
  std::map<std::string, bool> last;  // content -> normalized, the last spec of each content
  std::vector<std::string> order;
  for (const auto& spec : added) {
    if (spec.content.empty()) continue;
    if (!last.count(spec.content)) order.push_back(spec.content);
    last[spec.content] = spec.normalized;
  }
  for (const auto& content : order) {
    detail::AddedToken token{content, detail::token_id(*d, content, "the special token"), last[content]};
    if (token.normalized) {
      token.content = detail::to_utf8(detail::normalize(detail::decode_utf8(content)));
      d->normalized_tokens.push_back(token);
    } else {
      d->raw_tokens.push_back(token);
    }
  }
  for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
    if (!named.count(key)) {
      throw ConfigError("CLIPTokenizer: " + config_name + " " + key + " is null; CLIP needs it");
    }
  }
  d->bos_id = detail::token_id(*d, named["bos_token"].content, "bos_token");
  d->eos_id = detail::token_id(*d, named["eos_token"].content, "eos_token");
  d->unk_id = detail::token_id(*d, named["unk_token"].content, "unk_token");
  d->pad_id = detail::token_id(*d, named["pad_token"].content, "pad_token");

  if (!config.contains("model_max_length")) {
    throw ConfigError("CLIPTokenizer: " + config_name + " has no model_max_length (77 for CLIP)");
  }
  const auto max_length = detail::json_int64(config["model_max_length"]);
  if (!max_length || *max_length < 2 || *max_length > (int64_t{1} << 24)) {
    throw ConfigError("CLIPTokenizer: " + config_name + " model_max_length is " +
                      json_excerpt(config["model_max_length"]) + ", expected an integer in [2, 16777216]");
  }
  d->model_max_length = *max_length;
  return CLIPTokenizer(std::move(d));
}

std::vector<int64_t> CLIPTokenizer::encode_unpadded(const std::string& utf8) const {
  std::vector<int64_t> ids{data_->bos_id};
  const auto tokens = detail::tokenize(*data_, utf8);
  ids.insert(ids.end(), tokens.begin(), tokens.end());
  ids.push_back(data_->eos_id);
  return ids;
}

std::vector<int64_t> CLIPTokenizer::encode(const std::string& utf8) const {
  auto tokens = detail::tokenize(*data_, utf8);
  const auto keep = static_cast<std::size_t>(data_->model_max_length - 2);
  if (tokens.size() > keep) tokens.resize(keep);
  std::vector<int64_t> ids{data_->bos_id};
  ids.insert(ids.end(), tokens.begin(), tokens.end());
  ids.push_back(data_->eos_id);
  ids.resize(static_cast<std::size_t>(data_->model_max_length), data_->pad_id);
  return ids;
}

torch::Tensor CLIPTokenizer::operator()(const std::vector<std::string>& prompts) const {
  const int64_t n = static_cast<int64_t>(prompts.size());
  torch::Tensor ids = torch::empty({n, data_->model_max_length}, torch::kInt64);
  auto* out = ids.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const auto row = encode(prompts[static_cast<std::size_t>(i)]);
    std::copy(row.begin(), row.end(), out + i * data_->model_max_length);
  }
  return ids;
}

int64_t CLIPTokenizer::model_max_length() const { return data_->model_max_length; }
int64_t CLIPTokenizer::pad_token_id() const { return data_->pad_id; }
int64_t CLIPTokenizer::bos_token_id() const { return data_->bos_id; }
int64_t CLIPTokenizer::eos_token_id() const { return data_->eos_id; }
int64_t CLIPTokenizer::unk_token_id() const { return data_->unk_id; }
int64_t CLIPTokenizer::vocab_size() const { return static_cast<int64_t>(data_->vocab.size()); }

std::string CLIPTokenizer::unicode_version() { return utf8proc_unicode_version(); }

}  // namespace ddim
