#include "text/clip_bpe.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "text/clip_unicode.h"

namespace ddim::detail {
namespace {

bool starts_with(const std::u32string& text, std::size_t pos, const std::u32string& prefix) {
  return text.compare(pos, prefix.size(), prefix) == 0;
}

// The pre-tokenizer: Split(<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|
// [^\s\p{L}\p{N}]+, keeping the matches), then ByteLevel's GPT-2 split, which only cuts the two
// special spellings into "<|", the word and "|>". Everything between matches (\s) is dropped.
// Calls on_word(word) for each word in order while it returns true; returns false when it stopped.
template <typename OnWord>
bool pre_tokenize(const std::u32string& text, OnWord on_word) {
  static const std::u32string kStart = U"<|startoftext|>", kEnd = U"<|endoftext|>";
  std::size_t i = 0;
  while (i < text.size()) {
    const char32_t c = text[i];
    if (starts_with(text, i, kStart) || starts_with(text, i, kEnd)) {
      const std::size_t len = starts_with(text, i, kStart) ? kStart.size() : kEnd.size();
      if (!on_word(U"<|") || !on_word(text.substr(i + 2, len - 4)) || !on_word(U"|>")) return false;
      i += len;
      continue;
    }
    if (c == U'\'' && i + 1 < text.size()) {
      const char32_t n = text[i + 1];
      std::size_t len = 0;
      if (n == U's' || n == U't' || n == U'm' || n == U'd') {
        len = 2;
      } else if (starts_with(text, i, U"'re") || starts_with(text, i, U"'ve") || starts_with(text, i, U"'ll")) {
        len = 3;
      }
      if (len > 0) {
        if (!on_word(text.substr(i, len))) return false;
        i += len;
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
    if (!on_word(text.substr(i, j - i))) return false;
    i = j;
  }
  return true;
}

// tokenizers' BPE on one word: its bytes as byte-level symbols, "</w>" on the last one, then the
// lowest-ranked adjacent pair merged (leftmost first on a tie) until no pair has a merge. The
// symbols form a linked list and the candidate pairs a heap ordered by (rank, position); a popped
// pair whose symbols have changed since it was pushed is stale and skipped. O(n log n) in the
// word's bytes.
void bpe(const CLIPVocabulary& v, const std::u32string& word, std::vector<int64_t>& out) {
  const std::string bytes = to_utf8(word);
  const std::size_t n = bytes.size();
  std::vector<int64_t> symbol(n);
  for (std::size_t k = 0; k < n; ++k) {
    std::string text = v.byte_symbols[static_cast<unsigned char>(bytes[k])];
    if (k + 1 == n) text += "</w>";
    const auto it = v.vocab.find(text);
    symbol[k] = it == v.vocab.end() ? v.unk_id : it->second;
  }
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::vector<std::size_t> prev(n), next(n);
  std::vector<char> alive(n, 1);
  for (std::size_t k = 0; k < n; ++k) {
    prev[k] = k == 0 ? kNone : k - 1;
    next[k] = k + 1 == n ? kNone : k + 1;
  }
  struct Candidate {
    int64_t rank;
    std::size_t left, right;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  const auto offer = [&](std::size_t left, std::size_t right) {
    if (left == kNone || right == kNone) return;
    const auto it = v.merges.find({symbol[left], symbol[right]});
    if (it != v.merges.end()) heap.push({it->second.rank, left, right});
  };
  for (std::size_t k = 0; k + 1 < n; ++k) offer(k, k + 1);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    if (!alive[c.left] || !alive[c.right] || next[c.left] != c.right) continue;
    const auto it = v.merges.find({symbol[c.left], symbol[c.right]});
    if (it == v.merges.end() || it->second.rank != c.rank) continue;
    symbol[c.left] = it->second.merged;
    alive[c.right] = 0;
    next[c.left] = next[c.right];
    if (next[c.left] != kNone) prev[next[c.left]] = c.left;
    offer(prev[c.left], c.left);
    offer(c.left, next[c.left]);
  }
  for (std::size_t k = 0; k < n; ++k) {
    if (alive[k]) out.push_back(symbol[k]);
  }
}

// Splits `text` on the added tokens (leftmost match, the longest where several start there, as
// tokenizers' Aho-Corasick does): calls on_text for the pieces between and on_token for each match,
// while they return true; returns false when one of them stopped it.
template <typename String, typename OnText, typename OnToken>
bool split_on_tokens(const String& text, const std::vector<std::pair<String, int64_t>>& tokens, OnText on_text,
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
    if (i > start && !on_text(text.substr(start, i - start))) return false;
    if (!on_token(best_id)) return false;
    i += best_len;
    start = i;
  }
  return start >= text.size() || on_text(text.substr(start));
}

}  // namespace

std::vector<int64_t> tokenize(const CLIPVocabulary& v, const std::string& utf8, std::size_t limit) {
  decode_utf8(utf8);  // refuses invalid UTF-8 before anything else
  std::vector<std::pair<std::string, int64_t>> raw;
  for (const auto& t : v.raw_tokens) raw.emplace_back(t.content, t.id);
  std::vector<std::pair<std::u32string, int64_t>> normalized;
  for (const auto& t : v.normalized_tokens) normalized.emplace_back(decode_utf8(t.content), t.id);

  std::vector<int64_t> ids;
  const auto on_token = [&](int64_t id) {
    ids.push_back(id);
    return ids.size() < limit;
  };
  const auto on_normalized_text = [&](const std::u32string& piece) {
    return pre_tokenize(piece, [&](const std::u32string& word) {
      bpe(v, word, ids);
      return ids.size() < limit;
    });
  };
  split_on_tokens(
      utf8, raw,
      [&](const std::string& piece) {
        return split_on_tokens(normalize(decode_utf8(piece)), normalized, on_normalized_text, on_token);
      },
      on_token);
  return ids;
}

std::string decode(const CLIPVocabulary& v, const std::vector<int64_t>& ids) {
  std::unordered_map<std::string, unsigned char> byte_of;
  for (std::size_t b = 0; b < v.byte_symbols.size(); ++b) byte_of[v.byte_symbols[b]] = static_cast<unsigned char>(b);
  static const std::string kEndOfWord = "</w>";
  std::string bytes;
  for (const int64_t id : ids) {
    const auto found = v.tokens.find(id);
    if (found == v.tokens.end()) continue;
    std::string token = found->second;
    const bool end_of_word = token.size() >= kEndOfWord.size() &&
                             token.compare(token.size() - kEndOfWord.size(), kEndOfWord.size(), kEndOfWord) == 0;
    if (end_of_word) token.resize(token.size() - kEndOfWord.size());
    for (const char32_t cp : decode_utf8(token)) {
      std::string symbol;
      append_utf8(symbol, cp);
      const auto byte = byte_of.find(symbol);
      if (byte == byte_of.end()) {
        bytes += symbol;
      } else {
        bytes += static_cast<char>(byte->second);
      }
    }
    if (end_of_word) bytes += ' ';
  }
  while (!bytes.empty() && bytes.back() == ' ') bytes.pop_back();
  return to_utf8(decode_utf8_lenient(bytes));
}

}  // namespace ddim::detail
