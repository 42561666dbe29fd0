#include "text/clip_bpe.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "ddim/errors.h"
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
  if (n >= (std::size_t{1} << 32)) {  // positions are 32 bits in the heap below
    throw UsageError("CLIPTokenizer: a word of " + std::to_string(n) + " bytes (at most 4294967295)");
  }
  std::vector<int64_t> symbol(n);
  for (std::size_t k = 0; k < n; ++k) {
    const auto byte = static_cast<unsigned char>(bytes[k]);
    symbol[k] = k + 1 == n ? v.last_byte_ids[byte] : v.byte_ids[byte];
  }
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::vector<std::size_t> prev(n), next(n);
  std::vector<char> alive(n, 1);
  for (std::size_t k = 0; k < n; ++k) {
    prev[k] = k == 0 ? kNone : k - 1;
    next[k] = k + 1 == n ? kNone : k + 1;
  }
  // A candidate is (rank << 32) | left position, so the smallest is the lowest rank, leftmost on a
  // tie. A popped one is merged when its left symbol still has a right neighbour whose pair has
  // that rank: a rank names one pair, so that is the pair it was pushed for, or the same pair again.
  const auto merge_of = [&](std::size_t left) {
    return v.merges.find(CLIPVocabulary::pair_key(symbol[left], symbol[next[left]]));
  };
  const auto candidate = [&](std::size_t left, uint64_t& out) {
    if (left == kNone || next[left] == kNone) return false;
    const auto it = merge_of(left);
    if (it == v.merges.end()) return false;
    out = (static_cast<uint64_t>(it->second.rank) << 32) | left;
    return true;
  };
  // The word's pairs, heapified at once (linear), then one push per new neighbour pair.
  std::vector<uint64_t> initial;
  initial.reserve(n);
  for (std::size_t k = 0; k + 1 < n; ++k) {
    if (uint64_t c = 0; candidate(k, c)) initial.push_back(c);
  }
  std::priority_queue<uint64_t, std::vector<uint64_t>, std::greater<>> heap(std::greater<>(), std::move(initial));
  const auto offer = [&](std::size_t left) {
    if (uint64_t c = 0; candidate(left, c)) heap.push(c);
  };
  while (!heap.empty()) {
    const uint64_t top = heap.top();
    heap.pop();
    const auto left = static_cast<std::size_t>(top & 0xFFFFFFFFu);
    if (!alive[left] || next[left] == kNone) continue;
    const auto it = merge_of(left);
    if (it == v.merges.end() || static_cast<uint64_t>(it->second.rank) != (top >> 32)) continue;
    const std::size_t right = next[left];
    symbol[left] = it->second.merged;
    alive[right] = 0;
    next[left] = next[right];
    if (next[left] != kNone) prev[next[left]] = left;
    offer(prev[left]);
    offer(left);
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
