#include "text/clip_tokenizer_files.h"

#include <algorithm>
#include <array>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ddim/errors.h"
#include "ddim/io/files.h"
#include "io/json_values.h"
#include "text/clip_unicode.h"

namespace ddim::detail {
namespace {

std::string named(const std::filesystem::path& path) { return one_line(path.string()); }

nlohmann::json read_json(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw ConfigError("CLIPTokenizer: " + named(path) + " is missing (a tokenizer folder has it)");
  }
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError("CLIPTokenizer: " + named(path) + " is not valid JSON: " + one_line(e.what()));
  }
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the rest map to U+0100...
void set_byte_symbols(CLIPVocabulary& v) {
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    std::string symbol;
    append_utf8(symbol, printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + extra++));
    v.byte_symbols[static_cast<std::size_t>(b)] = symbol;
  }
}

void read_vocab(CLIPVocabulary& v, const std::filesystem::path& path) {
  const nlohmann::json vocab = read_json(path);
  if (!vocab.is_object()) {
    throw ConfigError("CLIPTokenizer: " + named(path) + " is " + json_excerpt(vocab) +
                      ", expected an object of token: id");
  }
  for (const auto& [token, id] : vocab.items()) {
    const auto value = json_int64(id);
    if (!value || *value < 0 || *value >= CLIPVocabulary::kIdLimit) {
      throw ConfigError("CLIPTokenizer: " + named(path) + " gives \"" + one_line(token) + "\" the id " +
                        json_excerpt(id) + ", expected an integer in [0, 2147483647]");
    }
    v.vocab[token] = *value;
    v.tokens[*value] = token;
    v.max_id = std::max(v.max_id, *value);
  }
}

void read_merges(CLIPVocabulary& v, const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw ConfigError("CLIPTokenizer: " + named(path) + " is missing (a tokenizer folder has it)");
  }
  const std::string merges = read_file(path);
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
      return ConfigError("CLIPTokenizer: " + named(path) + " line " + std::to_string(line_no) + " \"" + one_line(line) +
                         "\" " + why);
    };
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
      throw bad("is not two tokens separated by one space");
    }
    const std::string left = line.substr(0, space), right = line.substr(space + 1);
    const auto a = v.vocab.find(left), b = v.vocab.find(right), merged = v.vocab.find(left + right);
    if (a == v.vocab.end() || b == v.vocab.end() || merged == v.vocab.end()) {
      throw bad("names a token that is not in vocab.json");
    }
    // A pair listed twice keeps its last line, as a map assignment of merges.txt's order gives.
    if (rank >= CLIPVocabulary::kIdLimit) throw bad("is past the 2^31 merges a tokenizer may rank");
    v.merges[CLIPVocabulary::pair_key(a->second, b->second)] = {rank++, merged->second};
  }
}

// A special token as transformers builds it from a config value: a string, or an AddedToken
// object ({"content": ..., "normalized": ..., ...}). `where` names the file and key it came from.
struct TokenSpec {
  std::string content;
  bool normalized = false;
  std::string where;
};

std::optional<TokenSpec> token_spec(const nlohmann::json& value, const std::string& where, bool special) {
  if (value.is_null()) return std::nullopt;
  if (value.is_string()) return TokenSpec{value.get<std::string>(), false, where};
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
  return TokenSpec{value["content"].get<std::string>(), flag("normalized", !special), where};
}

int64_t token_id(const CLIPVocabulary& v, const TokenSpec& spec, const std::filesystem::path& vocab_path) {
  const auto it = v.vocab.find(spec.content);
  if (it == v.vocab.end()) {
    throw ConfigError("CLIPTokenizer: " + spec.where + " \"" + one_line(spec.content) + "\" is not in " +
                      named(vocab_path));
  }
  return it->second;
}

const std::array<const char*, 7> kNamed = {"bos_token", "eos_token", "unk_token", "sep_token",
                                           "pad_token", "cls_token", "mask_token"};

// added_tokens_decoder of tokenizer_config.json, in the order of its ids.
std::vector<TokenSpec> decoder_tokens(const nlohmann::json& decoder, const std::string& config_name) {
  if (!decoder.is_object()) {
    throw ConfigError("CLIPTokenizer: " + config_name + " added_tokens_decoder is " + json_excerpt(decoder) +
                      ", expected an object of id: token");
  }
  std::vector<std::pair<int64_t, TokenSpec>> entries;
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
    auto spec = token_spec(value, config_name + " added_tokens_decoder." + one_line(key), false);
    if (!spec)
      throw ConfigError("CLIPTokenizer: " + config_name + " added_tokens_decoder." + one_line(key) + " is null");
    entries.emplace_back(index, *spec);
  }
  std::stable_sort(entries.begin(), entries.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<TokenSpec> tokens;
  for (auto& entry : entries) tokens.push_back(std::move(entry.second));
  return tokens;
}

// The special tokens, as transformers' from_pretrained and TokenizersBackend put them together:
// tokenizer_config.json, overridden by special_tokens_map.json unless the config has
// added_tokens_decoder; then model_max_length.
void read_special_tokens(CLIPVocabulary& v, const std::filesystem::path& dir) {
  const auto config_path = dir / "tokenizer_config.json";
  const auto vocab_path = dir / "vocab.json";
  const nlohmann::json config = read_json(config_path);
  if (!config.is_object()) {
    throw ConfigError("CLIPTokenizer: " + named(config_path) + " is " + json_excerpt(config) + ", expected an object");
  }
  const std::string config_name = named(config_path);
  std::vector<TokenSpec> added;  // in the order they are added; a later one wins
  std::map<std::string, TokenSpec> special;
  const std::map<std::string, std::string> kDefaults = {{"bos_token", "<|startoftext|>"},
                                                        {"eos_token", "<|endoftext|>"},
                                                        {"unk_token", "<|endoftext|>"},
                                                        {"pad_token", "<|endoftext|>"}};
  for (const char* key : kNamed) {
    if (config.contains(key)) {
      if (auto spec = token_spec(config[key], config_name + " " + key, false)) special[key] = *spec;
    } else if (kDefaults.count(key)) {
      special[key] = {kDefaults.at(key), false, "the default " + std::string(key)};
    }
  }
  std::vector<std::string> decoder_contents;
  if (config.contains("added_tokens_decoder")) {
    // This form of the config is complete: transformers reads no special_tokens_map.json then.
    added = decoder_tokens(config["added_tokens_decoder"], config_name);
    for (const auto& spec : added) decoder_contents.push_back(spec.content);
  } else if (const auto map_path = dir / "special_tokens_map.json"; std::filesystem::exists(map_path)) {
    const nlohmann::json map = read_json(map_path);
    if (!map.is_object()) {
      throw ConfigError("CLIPTokenizer: " + named(map_path) + " is " + json_excerpt(map) + ", expected an object");
    }
    for (const char* key : kNamed) {
      if (!map.contains(key)) continue;
      if (auto spec = token_spec(map[key], named(map_path) + " " + key, true)) {
        special[key] = *spec;
      } else {
        special.erase(key);
      }
    }
  }
  for (const char* key : kNamed) {
    const auto it = special.find(key);
    if (it == special.end()) continue;
    if (std::find(decoder_contents.begin(), decoder_contents.end(), it->second.content) != decoder_contents.end()) {
      continue;
    }
    added.push_back(it->second);
  }
  std::map<std::string, const TokenSpec*> last;  // content -> the last spec of each content
  std::vector<std::string> order;
  for (const auto& spec : added) {
    if (spec.content.empty()) continue;
    if (!last.count(spec.content)) order.push_back(spec.content);
    last[spec.content] = &spec;
  }
  for (const auto& content : order) {
    const TokenSpec& spec = *last[content];
    AddedToken token{content, token_id(v, spec, vocab_path), spec.normalized};
    if (token.normalized) {
      token.content = to_utf8(normalize(decode_utf8(content)));
      v.normalized_tokens.push_back(token);
    } else {
      v.raw_tokens.push_back(token);
    }
  }
  for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
    if (!special.count(key)) throw ConfigError("CLIPTokenizer: " + config_name + " " + key + " is null; CLIP needs it");
  }
  v.bos_id = token_id(v, special["bos_token"], vocab_path);
  v.eos_id = token_id(v, special["eos_token"], vocab_path);
  v.unk_id = token_id(v, special["unk_token"], vocab_path);
  v.pad_id = token_id(v, special["pad_token"], vocab_path);
  for (std::size_t b = 0; b < v.byte_symbols.size(); ++b) {
    const auto symbol = v.vocab.find(v.byte_symbols[b]), last = v.vocab.find(v.byte_symbols[b] + "</w>");
    v.byte_ids[b] = symbol == v.vocab.end() ? v.unk_id : symbol->second;
    v.last_byte_ids[b] = last == v.vocab.end() ? v.unk_id : last->second;
  }

  if (!config.contains("model_max_length")) {
    throw ConfigError("CLIPTokenizer: " + config_name + " has no model_max_length (77 for CLIP)");
  }
  const auto max_length = json_int64(config["model_max_length"]);
  // A bound on the ids encode() makes per prompt (CLIP: 77; no text encoder takes 65 536 tokens).
  if (!max_length || *max_length < 2 || *max_length > (int64_t{1} << 16)) {
    throw ConfigError("CLIPTokenizer: " + config_name + " model_max_length is " +
                      json_excerpt(config["model_max_length"]) + ", expected an integer in [2, 65536]");
  }
  v.model_max_length = *max_length;
}

}  // namespace

std::shared_ptr<const CLIPVocabulary> read_clip_tokenizer_folder(const std::filesystem::path& tokenizer_dir) {
  auto v = std::make_shared<CLIPVocabulary>();
  set_byte_symbols(*v);
  read_vocab(*v, tokenizer_dir / "vocab.json");
  read_merges(*v, tokenizer_dir / "merges.txt");
  read_special_tokens(*v, tokenizer_dir);
  return v;
}

}  // namespace ddim::detail
