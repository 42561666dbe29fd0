// libFuzzer harness: any bytes as a prompt through ddim::CLIPTokenizer::encode and encode_unpadded,
// on a small valid tokenizer folder made at start-up in the scratch folder: the 256 GPT-2 byte
// symbols and their "</w>" forms, a few merges (ASCII words, a CJK character, an emoji),
// <|startoftext|> and <|endoftext|>, with Stable Diffusion 1.x's special tokens and model_max_length.
// Text that is valid UTF-8 (checked here, independently) must encode; anything else must be a
// UsageError. An encoded row has model_max_length ids in [0, vocab_size()): <|startoftext|>, the
// unpadded tokens cut to model_max_length - 2, <|endoftext|>, then padding; encode reports cut text
// exactly when tokens were cut (it stops tokenizing early, encode_unpadded does not); decode takes
// every row.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "ddim/errors.h"
#include "ddim/text/clip_tokenizer.h"
#include "fuzz_support.h"

namespace {

constexpr int64_t kMaxLength = 77;

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {  // byte symbols are below U+0800
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// GPT-2's bytes_to_unicode, in its order: the printable Latin-1 bytes first, then the rest.
std::vector<std::pair<int, std::string>> byte_symbols() {
  std::vector<std::pair<int, std::string>> printable, rest;
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    std::string symbol;
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
      append_utf8(symbol, static_cast<uint32_t>(b));
      printable.emplace_back(b, symbol);
    } else {
      append_utf8(symbol, static_cast<uint32_t>(256 + extra++));
      rest.emplace_back(b, symbol);
    }
  }
  printable.insert(printable.end(), rest.begin(), rest.end());
  return printable;
}

// Writes the folder; returns it.
std::filesystem::path make_tokenizer_folder() {
  const auto dir = ddim::fuzz::scratch_dir("prompt") / "tokenizer";
  std::filesystem::create_directories(dir);
  const auto symbols = byte_symbols();
  std::string by_byte[256];
  for (const auto& [b, symbol] : symbols) by_byte[b] = symbol;
  const auto spell = [&](const std::string& bytes) {
    std::string out;
    for (unsigned char c : bytes) out += by_byte[c];
    return out;
  };
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  int64_t next = 0;
  for (const auto& entry : symbols) vocab[entry.second] = next++;
  for (const auto& entry : symbols) vocab[entry.second + "</w>"] = next++;
  // Merges as CLIP's first ones look, over raw bytes; `true`: the right part ends the word.
  const std::vector<std::tuple<std::string, std::string, bool>> merges = {
      {"t", "h", false},           {"i", "n", false},        {"th", "e", true},        {"a", "n", false},
      {"r", "e", false},           {"o", "f", true},         {"an", "d", true},        {"in", "g", true},
      {"a", "s", false},           {"as", "t", false},       {"ast", "r", false},      {"astr", "o", false},
      {"o", "r", false},           {"e", "s", true},         {"p", "h", false},        {"ph", "o", false},
      {"pho", "t", false},         {"phot", "o", true},      {"\xE6", "\x9D", false},  {"\xE6\x9D", "\xB1", true},
      {"\xF0", "\x9F", false},     {"\xF0\x9F", "\x90", false}, {"\xF0\x9F\x90", "\xB4", true}, {"!", "!", true}};
  std::string merges_txt = "#version: 0.2\n";
  for (const auto& [left, right, end] : merges) {
    const std::string a = spell(left), b = spell(right) + (end ? "</w>" : "");
    merges_txt += a + " " + b + "\n";
    if (!vocab.contains(a + b)) vocab[a + b] = next++;
  }
  vocab["<|startoftext|>"] = next++;
  vocab["<|endoftext|>"] = next++;
  const auto added = [](const char* content, bool with_type) {
    nlohmann::ordered_json token = {{"content", content}, {"lstrip", false}, {"normalized", true},
                                    {"rstrip", false},    {"single_word", false}};
    if (with_type) token["__type"] = "AddedToken";
    return token;
  };
  const nlohmann::ordered_json config = {{"add_prefix_space", false},
                                         {"bos_token", added("<|startoftext|>", true)},
                                         {"do_lower_case", true},
                                         {"eos_token", added("<|endoftext|>", true)},
                                         {"errors", "replace"},
                                         {"model_max_length", kMaxLength},
                                         {"pad_token", "<|endoftext|>"},
                                         {"tokenizer_class", "CLIPTokenizer"},
                                         {"unk_token", added("<|endoftext|>", true)}};
  const nlohmann::ordered_json special = {{"bos_token", added("<|startoftext|>", false)},
                                          {"eos_token", added("<|endoftext|>", false)},
                                          {"pad_token", "<|endoftext|>"},
                                          {"unk_token", added("<|endoftext|>", false)}};
  ddim::fuzz::write_bytes(dir / "vocab.json", vocab.dump());
  ddim::fuzz::write_bytes(dir / "merges.txt", merges_txt);
  ddim::fuzz::write_bytes(dir / "tokenizer_config.json", config.dump(2));
  ddim::fuzz::write_bytes(dir / "special_tokens_map.json", special.dump(2));
  return dir;
}

const ddim::CLIPTokenizer& tokenizer() {
  static const auto* loaded = [] {
    try {
      return new ddim::CLIPTokenizer(ddim::CLIPTokenizer::from_pretrained(make_tokenizer_folder()));
    } catch (const std::exception& e) {
      ddim::fuzz::finding(std::string("the harness's own tokenizer folder does not load: ") + e.what());
    }
  }();
  return *loaded;
}

// Strict UTF-8, written here independently of the library: no overlong forms, no surrogates,
// nothing past U+10FFFF, nothing cut short.
bool is_utf8(const std::string& text) {
  for (size_t i = 0; i < text.size();) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if (b0 < 0x80) {
      len = 1, cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2, cp = b0 & 0x1Fu, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, cp = b0 & 0x0Fu, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, cp = b0 & 0x07u, min = 0x10000;
    } else {
      return false;
    }
    if (i + len > text.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

std::string ids_text(const std::vector<int64_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size() && i < 16; ++i) out += (i ? " " : "") + std::to_string(ids[i]);
  return out + (ids.size() > 16 ? " ..." : "");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string prompt(reinterpret_cast<const char*>(data), size);
  const auto& tok = tokenizer();
  const bool valid = is_utf8(prompt);
  ddim::fuzz::expect_only_ddim_errors([&] {
    std::vector<int64_t> ids, unpadded;
    std::string dropped;
    try {
      ids = tok.encode(prompt, &dropped);
      unpadded = tok.encode_unpadded(prompt);
    } catch (const ddim::Error& e) {
      if (valid) ddim::fuzz::finding(std::string("valid UTF-8 was refused: ") + e.what());
      if (!dynamic_cast<const ddim::UsageError*>(&e)) {
        ddim::fuzz::finding(std::string("invalid UTF-8 gave an error that is not a UsageError: ") + e.what());
      }
      throw;
    }
    if (!valid) ddim::fuzz::finding("invalid UTF-8 was encoded to " + ids_text(ids));
    const int64_t vocab_size = tok.vocab_size();
    for (const auto* row : {&ids, &unpadded}) {
      for (int64_t id : *row) {
        if (id < 0 || id >= vocab_size) {
          ddim::fuzz::finding("the id " + std::to_string(id) + " is outside [0, " + std::to_string(vocab_size) + ")");
        }
      }
    }
    if (unpadded.size() < 2 || unpadded.front() != tok.bos_token_id() || unpadded.back() != tok.eos_token_id()) {
      ddim::fuzz::finding("encode_unpadded gave " + ids_text(unpadded) + ", not <|startoftext|> ... <|endoftext|>");
    }
    // encode's row from encode_unpadded's: the tokens cut to kMaxLength - 2, end, padding.
    std::vector<int64_t> expected(unpadded.begin(), unpadded.end() - 1);
    if (static_cast<int64_t>(expected.size()) > kMaxLength - 1) expected.resize(kMaxLength - 1);
    expected.push_back(tok.eos_token_id());
    expected.resize(kMaxLength, tok.pad_token_id());
    if (ids != expected) {
      ddim::fuzz::finding("encode gave " + ids_text(ids) + " (" + std::to_string(ids.size()) +
                          " ids), encode_unpadded cut and padded gives " + ids_text(expected));
    }
    if (dropped.empty() != (static_cast<int64_t>(unpadded.size()) <= kMaxLength)) {
      ddim::fuzz::finding("encode reported the cut text '" + dropped + "' for " + std::to_string(unpadded.size()) +
                          " unpadded ids");
    }
    (void)tok.decode(ids);
    (void)tok.decode(unpadded);
  });
  return 0;
}
