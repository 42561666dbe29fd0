// libFuzzer harness: a tokenizer folder through ddim::CLIPTokenizer::from_pretrained, then encode()
// of a fixed prompt when it loads. Input: the four files, in the order vocab.json, merges.txt,
// tokenizer_config.json, special_tokens_map.json, separated by the byte 0x1E (ASCII record
// separator, which JSON text cannot hold unescaped). A file the input does not reach is absent from
// the folder (fewer than three separators), and everything after the third separator is
// special_tokens_map.json. tests/fuzz/make_corpus.py packs real folders this way.
// A tokenizer that loads must give, for the prompt, model_max_length() ids, each in
// [0, max_token_id()], starting with bos_token_id(): encode_unpadded's ids cut and padded. The batch
// form must give the same row, the cut text must be reported exactly when tokens were cut, and
// decode() must take the tokens. (The ids are bounded by max_token_id(), not vocab_size(): vocab.json
// may leave ids unused, {"a": 5} has vocab_size() 1, and CLIPTextEncoder checks max_token_id()
// against its embedding rows.)
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ddim/text/clip_tokenizer.h"
#include "fuzz_support.h"

namespace {

constexpr char kSeparator = '\x1e';
const char* const kFiles[] = {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"};
// The library takes model_max_length up to 2^16, so every folder that loads is encoded; the check
// below would catch a larger bound creeping back.
constexpr int64_t kMaxEncodedLength = int64_t{1} << 16;
// Specials in both spellings, case, whitespace runs, an apostrophe form, digits, punctuation,
// accents (NFC), CJK and an emoji (several bytes, byte-level symbols).
const std::string kPrompt =
    "a Photo of an astronaut's  horse,\t<|startoftext|>12 <|endoftext|>!! caf\xC3\xA9 e\xCC\x81 "
    "\xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x90\xB4";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& dir = ddim::fuzz::scratch_dir("tokenizer_files");
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  size_t start = 0;
  for (size_t k = 0; k < 4; ++k) {
    const auto path = dir / kFiles[k];
    if (start > bytes.size()) {
      std::error_code ec;
      std::filesystem::remove(path, ec);
      continue;
    }
    size_t end = k < 3 ? bytes.find(kSeparator, start) : std::string::npos;
    if (end == std::string::npos) end = bytes.size();
    ddim::fuzz::write_bytes(path, bytes.substr(start, end - start));
    start = end + 1;
  }
  ddim::fuzz::expect_only_ddim_errors([&] {
    const auto tokenizer = ddim::CLIPTokenizer::from_pretrained(dir);
    const int64_t length = tokenizer.model_max_length();
    const int64_t max_id = tokenizer.max_token_id();
    if (length < 2) ddim::fuzz::finding("model_max_length " + std::to_string(length) + " was accepted");
    if (length > kMaxEncodedLength) ddim::fuzz::finding("model_max_length " + std::to_string(length) + " past 2^16 loaded");
    std::string dropped;
    const auto ids = tokenizer.encode(kPrompt, &dropped);
    if (static_cast<int64_t>(ids.size()) != length) {
      ddim::fuzz::finding("encode gave " + std::to_string(ids.size()) + " ids, model_max_length is " +
                          std::to_string(length));
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] > max_id) {
        ddim::fuzz::finding("encode gave the id " + std::to_string(ids[i]) + " at " + std::to_string(i) +
                            ", outside [0, max_token_id() = " + std::to_string(max_id) + "]");
      }
    }
    if (ids.front() != tokenizer.bos_token_id()) {
      ddim::fuzz::finding("encode's row starts with " + std::to_string(ids.front()) + ", not bos_token_id() " +
                          std::to_string(tokenizer.bos_token_id()));
    }
    const auto unpadded = tokenizer.encode_unpadded(kPrompt);
    if (dropped.empty() != (static_cast<int64_t>(unpadded.size()) <= length)) {
      ddim::fuzz::finding("encode reported the cut text '" + dropped + "' for " + std::to_string(unpadded.size()) +
                          " unpadded ids and model_max_length " + std::to_string(length));
    }
    std::vector<int64_t> expected(unpadded.begin(), unpadded.end() - 1);  // encode_unpadded cut and padded
    if (static_cast<int64_t>(expected.size()) > length - 1) expected.resize(static_cast<size_t>(length - 1));
    expected.push_back(tokenizer.eos_token_id());
    expected.resize(static_cast<size_t>(length), tokenizer.pad_token_id());
    if (ids != expected) ddim::fuzz::finding("encode's row is not encode_unpadded's cut and padded");
    (void)tokenizer.decode(unpadded);  // not the padded row: decode takes ~0.2 s for 2^16 ids under ASan
    const auto batch = tokenizer({kPrompt});
    if (batch.dim() != 2 || batch.size(0) != 1 || batch.size(1) != length ||
        !std::equal(ids.begin(), ids.end(), batch.data_ptr<int64_t>())) {
      ddim::fuzz::finding("the batch form of encode gives another row, of shape " + c10::str(batch.sizes()));
    }
  });
  return 0;
}
