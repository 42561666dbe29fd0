// ddim::CLIPTokenizer against transformers' CLIPTokenizer (the ids StableDiffusionPipeline gets),
// and its refusals. The reference ids are made by tests/make_tokenizer_fixture.sh in the test run.
#include <ddim/errors.h>
#include <ddim/io/files.h>
#include <ddim/text/clip_tokenizer.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kFixture = DDIM_TOKENIZER_FIXTURE_DIR;

std::string join(const std::vector<int64_t>& ids) {
  std::ostringstream out;
  for (std::size_t i = 0; i < ids.size(); ++i) out << (i ? " " : "") << ids[i];
  return out.str();
}

std::string escaped(const std::string& text) { return json(text).dump(); }

class ClipParity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kFixture / ".complete")) {
      GTEST_SKIP() << "no tokenizer fixture at " << kFixture
                   << " (made by the ctest fixture tokenizer_fixture with the pinned transformers)";
    }
  }

  // Every string of prompts.json gives transformers' ids; the first mismatches are reported.
  static void check_prompts(const ddim::CLIPTokenizer& tokenizer, const fs::path& file, std::size_t at_least) {
    const json ref = json::parse(ddim::read_file(file));
    const auto& strings = ref.at("strings");
    const auto& ids = ref.at("input_ids");
    ASSERT_EQ(strings.size(), ids.size());
    ASSERT_GE(strings.size(), at_least);
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < strings.size(); ++i) {
      const auto text = strings[i].get<std::string>();
      const auto expected = ids[i].get<std::vector<int64_t>>();
      const auto got = tokenizer.encode(text);
      if (got != expected && ++mismatches <= 10) {
        ADD_FAILURE() << "string " << i << " " << escaped(text) << "\n  transformers: " << join(expected)
                      << "\n  ddim:         " << join(got);
      }
    }
    EXPECT_EQ(mismatches, 0u) << "of " << strings.size() << " strings";
  }
};

TEST_F(ClipParity, Sd1PromptsGiveTransformersIds) {
  const auto tokenizer = ddim::CLIPTokenizer::from_pretrained(kFixture / "sd1");
  EXPECT_EQ(tokenizer.model_max_length(), 77);
  EXPECT_EQ(tokenizer.vocab_size(), 49408);
  EXPECT_EQ(tokenizer.bos_token_id(), 49406);
  EXPECT_EQ(tokenizer.eos_token_id(), 49407);
  EXPECT_EQ(tokenizer.pad_token_id(), 49407);
  check_prompts(tokenizer, kFixture / "ref1" / "prompts.json", 10000);
}

TEST_F(ClipParity, Sd2PadsWithExclamationMark) {
  const auto tokenizer = ddim::CLIPTokenizer::from_pretrained(kFixture / "sd2");
  EXPECT_EQ(tokenizer.pad_token_id(), 0);
  // "!" is a special token there: transformers matches it in the text before BPE.
  EXPECT_EQ(join(tokenizer.encode_unpadded("hello!")), "49406 3306 0 49407");
  check_prompts(tokenizer, kFixture / "ref2" / "prompts.json", 2000);
}

// Every code point (but the surrogates) next to a letter, itself and a combining mark: the
// Unicode classes, lowercase and NFC that tokenizers applies, whatever utf8proc's version says.
TEST_F(ClipParity, EveryCodePointGivesTransformersIds) {
  const auto tokenizer = ddim::CLIPTokenizer::from_pretrained(kFixture / "sd1");
  std::ifstream in(kFixture / "ref1" / "code_points.txt");
  ASSERT_TRUE(in) << "cannot read " << kFixture / "ref1" / "code_points.txt";
  std::string line;
  std::size_t lines = 0, mismatches = 0;
  for (char32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp < 0xE000) continue;
    ASSERT_TRUE(std::getline(in, line)) << "code_points.txt ends before U+" << std::hex << cp;
    ++lines;
    std::string text = "a";
    std::string c;
    if (cp < 0x80) {
      c = std::string(1, static_cast<char>(cp));
    } else if (cp < 0x800) {
      c = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    } else if (cp < 0x10000) {
      c = {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
           static_cast<char>(0x80 | (cp & 0x3F))};
    } else {
      c = {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
           static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
    }
    text += c + c + "\xCC\xB4";  // U+0334
    const auto ids = tokenizer.encode_unpadded(text);
    std::ostringstream got;
    for (std::size_t i = 1; i + 1 < ids.size(); ++i) got << (i > 1 ? " " : "") << std::hex << ids[i];
    if (got.str() != line && ++mismatches <= 10) {
      ADD_FAILURE() << "U+" << std::hex << static_cast<uint32_t>(cp) << " in " << escaped(text)
                    << ": transformers (hex) " << line << ", ddim " << got.str();
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << lines << " code points";
}

TEST_F(ClipParity, BatchIsRowsOfEncode) {
  const auto tokenizer = ddim::CLIPTokenizer::from_pretrained(kFixture / "sd1");
  const std::vector<std::string> prompts = {"a photo of an astronaut riding a horse on mars", "", "İstanbul ½ ٣"};
  const torch::Tensor ids = tokenizer(prompts);
  ASSERT_EQ(ids.scalar_type(), torch::kInt64);
  ASSERT_EQ(ids.sizes(), (std::vector<int64_t>{3, 77}));
  for (int64_t i = 0; i < 3; ++i) {
    const auto row = tokenizer.encode(prompts[static_cast<std::size_t>(i)]);
    EXPECT_TRUE(torch::equal(ids[i], torch::tensor(row, torch::kInt64))) << i;
  }
  EXPECT_EQ(tokenizer(std::vector<std::string>{}).sizes(), (std::vector<int64_t>{0, 77}));
}

// Work linear in the text: BPE through a heap, and encode() stops once its 75 tokens are known. A
// megabyte of any content (one long word of letters, CJK, emoji, ordinary words) encodes in well
// under the bound here, which is generous for sanitizer builds; a quadratic BPE took over a minute
// for a tenth of it. bench/tokenizer_speed measures it.
TEST_F(ClipParity, MegabytePromptsEncodeInLinearTime) {
  const auto tokenizer = ddim::CLIPTokenizer::from_pretrained(kFixture / "sd1");
  const auto repeat = [](const std::string& unit) {
    std::string text;
    while (text.size() < (1u << 20)) text += unit;
    return text;
  };
  for (const auto& [name, text] :
       std::vector<std::pair<std::string, std::string>>{{"letters", repeat("a")},
                                                        {"cjk", repeat("\xE7\x8C\xAB")},
                                                        {"emoji", repeat("\xF0\x9F\x98\x80")},
                                                        {"words", repeat("a photo of a cat ")},
                                                        {"digits", repeat("0123456789")},
           // one letter and a run of combining marks out of canonical order: NFC sorts the run
           {"marks", "e" + repeat("\xCC\xA7\xCC\x81")}}) {
    const auto start = std::chrono::steady_clock::now();
    const auto ids = tokenizer.encode(text);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(ids.size(), 77u) << name;
    EXPECT_LT(seconds, 10.0) << name << ": " << seconds << " s for 1 MiB";
  }
}

// Stopping early changes no id: encode() keeps what the whole text's tokens begin with, and names
// where the cut text starts.
TEST_F(ClipParity, EncodeKeepsTheFirstTokensOfTheWholeText) {
  const auto tokenizer = ddim::CLIPTokenizer::from_pretrained(kFixture / "sd1");
  std::string text;
  for (int i = 0; i < 400; ++i) text += (i % 7 ? "word" + std::to_string(i) + " " : "\xE7\x8C\xAB\xF0\x9F\x98\x80");
  const auto whole = tokenizer.encode_unpadded(text);
  ASSERT_GT(whole.size(), 77u);
  std::string dropped;
  const auto kept = tokenizer.encode(text, &dropped);
  std::vector<int64_t> expected(whole.begin(), whole.begin() + 76);
  expected.push_back(tokenizer.eos_token_id());
  EXPECT_EQ(join(kept), join(expected));
  // The first cut tokens' text; a character they end inside of is U+FFFD there, whole in `dropped`.
  std::string start = tokenizer.decode(std::vector<int64_t>(whole.begin() + 76, whole.begin() + 82));
  while (start.size() >= 3 && start.compare(start.size() - 3, 3, "\xEF\xBF\xBD") == 0) start.resize(start.size() - 3);
  ASSERT_FALSE(start.empty());
  EXPECT_EQ(dropped.rfind(start, 0), 0u) << dropped << " | " << start;
  EXPECT_EQ(dropped.substr(dropped.size() - 4), " ...") << dropped;
  EXPECT_EQ(tokenizer.decode(tokenizer.encode_unpadded("a photo of a cat")),
            "<|startoftext|>a photo of a cat <|endoftext|>");
  tokenizer.encode("a photo of a cat", &dropped);
  EXPECT_EQ(dropped, "");
  EXPECT_EQ(tokenizer.max_token_id(), 49407);
}

// --- A small tokenizer folder for the refusals -----------------------------------------------

class ClipTokenizerFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ddim_clip_tokenizer_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    vocab_ = {{"!", 0},
              {"a", 1},
              {"b", 2},
              {"a</w>", 3},
              {"b</w>", 4},
              {"ab</w>", 5},
              {"!</w>", 6},
              {"<|startoftext|>", 7},
              {"<|endoftext|>", 8}};
    config_ = {{"model_max_length", 6},
               {"bos_token", {{"__type", "AddedToken"}, {"content", "<|startoftext|>"}, {"normalized", true}}},
               {"eos_token", {{"__type", "AddedToken"}, {"content", "<|endoftext|>"}, {"normalized", true}}},
               {"unk_token", "<|endoftext|>"},
               {"pad_token", "<|endoftext|>"}};
    write();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write() const {
    std::ofstream(dir_ / "vocab.json") << vocab_.dump();
    std::ofstream(dir_ / "merges.txt") << "#version: 0.2\na b</w>\n";
    std::ofstream(dir_ / "tokenizer_config.json") << config_.dump();
  }

  template <typename E>
  static void expect_refused(const std::function<void()>& run, const std::string& part) {
    try {
      run();
      ADD_FAILURE() << "not refused: " << part;
    } catch (const E& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }

  void expect_config_error(const std::string& part) const {
    expect_refused<ddim::ConfigError>([&] { ddim::CLIPTokenizer::from_pretrained(dir_); }, part);
  }

  fs::path dir_;
  json vocab_, config_;
};

TEST_F(ClipTokenizerFolder, EncodesPadsAndTruncates) {
  const auto tokenizer = ddim::CLIPTokenizer::from_pretrained(dir_);
  EXPECT_EQ(join(tokenizer.encode("ab")), "7 5 8 8 8 8");
  EXPECT_EQ(join(tokenizer.encode("AB a")), "7 5 3 8 8 8");
  EXPECT_EQ(join(tokenizer.encode("a a a a a a")), "7 3 3 3 3 8");  // 6 - 2 tokens kept
  std::string dropped;
  tokenizer.encode("a a a a ab a", &dropped);
  EXPECT_EQ(dropped, "ab a");
  tokenizer.encode("a a a a", &dropped);
  EXPECT_EQ(dropped, "");
  EXPECT_EQ(join(tokenizer.encode("")), "7 8 8 8 8 8");
  EXPECT_EQ(join(tokenizer.encode_unpadded("c")), "7 8 8");  // "c</w>" is not in the vocabulary: unk
  EXPECT_EQ(join(tokenizer.encode_unpadded("a<|endoftext|>b")), "7 3 8 4 8");
}

TEST_F(ClipTokenizerFolder, PadTokenFromSpecialTokensMap) {
  std::ofstream(dir_ / "special_tokens_map.json") << json{{"pad_token", "!"}}.dump();
  const auto tokenizer = ddim::CLIPTokenizer::from_pretrained(dir_);
  EXPECT_EQ(tokenizer.pad_token_id(), 0);
  EXPECT_EQ(join(tokenizer.encode("a!")), "7 3 0 8 0 0");
}

TEST_F(ClipTokenizerFolder, MissingFilesAreRefused) {
  for (const char* name : {"vocab.json", "merges.txt", "tokenizer_config.json"}) {
    write();
    fs::remove(dir_ / name);
    expect_config_error(std::string(name) + " is missing");
  }
}

TEST_F(ClipTokenizerFolder, BadValuesAreRefused) {
  std::ofstream(dir_ / "vocab.json") << "{\"a\": ";
  expect_config_error("vocab.json is not valid JSON");
  vocab_["a"] = -3;
  write();
  expect_config_error("\"a\" the id -3");
  vocab_["a"] = 1;
  for (const json& bad : {json("77"), json(1), json(2.5), json(nullptr)}) {
    config_["model_max_length"] = bad;
    write();
    expect_config_error("model_max_length is " + bad.dump());
  }
  config_["model_max_length"] = 6;
  config_["pad_token"] = "<pad>";
  write();
  // Which file named the token, and which vocabulary lacks it.
  expect_config_error((dir_ / "tokenizer_config.json").string() + " pad_token \"<pad>\" is not in " +
                      (dir_ / "vocab.json").string());
  std::ofstream(dir_ / "special_tokens_map.json") << json{{"pad_token", "<nothere>"}}.dump();
  expect_config_error((dir_ / "special_tokens_map.json").string() + " pad_token \"<nothere>\" is not in ");
  fs::remove(dir_ / "special_tokens_map.json");
  config_["pad_token"] = {{"content", "!"}, {"lstrip", true}};
  write();
  expect_config_error("pad_token.lstrip is true");
  config_["pad_token"] = 5;
  write();
  expect_config_error("pad_token is 5");
  config_["pad_token"] = "!";
  write();
  std::ofstream(dir_ / "merges.txt") << "#version: 0.2\na b</w>\na c\n";
  expect_config_error("merges.txt line 3 \"a c\" names a token that is not in vocab.json");
}

TEST_F(ClipTokenizerFolder, InvalidUtf8IsRefusedWithItsOffset) {
  const auto tokenizer = ddim::CLIPTokenizer::from_pretrained(dir_);
  const auto refused = [&](const std::string& text, const std::string& part) {
    expect_refused<ddim::UsageError>([&] { tokenizer.encode(text); }, part);
  };
  refused("ab\xFF", "not valid UTF-8 at byte 2 (0xFF)");
  refused("a\xC3", "at byte 1 (0xC3)");                                             // cut short
  refused("\xC0\xAF", "at byte 0 (0xC0)");                                          // overlong
  refused("xx\xED\xA0\x80", "at byte 2 (0xED)");                                    // a surrogate
  refused("\xF4\x90\x80\x80", "at byte 0 (0xF4)");                                  // past U+10FFFF
  refused(std::string("a\0b\x80", 4), "at byte 3 (0x80)");                          // a lone continuation byte
  EXPECT_EQ(join(tokenizer.encode_unpadded(std::string("a\0b", 3))), "7 3 8 4 8");  // NUL is punctuation
}

TEST(ClipTokenizerUnicode, ReportsUtf8procVersion) { EXPECT_FALSE(ddim::CLIPTokenizer::unicode_version().empty()); }

}  // namespace
