// CLIPTokenizer::encode on long prompts of each kind of content, as ddim-generate --prompt runs it
// (a row of model_max_length ids; the text past it is cut).
//   build/bin/bench_tokenizer --tokenizer=DIR [--bytes=1048576]
// DIR is a CLIP tokenizer folder (a Stable Diffusion folder's tokenizer/; the tokenizer test
// fixture's build/tests/tokenizer/sd1 holds CLIP's real vocabulary). One iteration encodes one
// prompt of --bytes bytes: one long word of letters, CJK, emoji, digits, or ordinary words.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "ddim/text/clip_tokenizer.h"

namespace {

std::string g_tokenizer;
std::size_t g_bytes = std::size_t{1} << 20;

std::string repeat(const std::string& unit) {
  std::string text;
  while (text.size() + unit.size() <= g_bytes) text += unit;
  return text;
}

void BM_Encode(benchmark::State& state, const std::string& unit) {
  const auto tokenizer = ddim::CLIPTokenizer::from_pretrained(g_tokenizer);
  const auto text = repeat(unit);
  for (auto _ : state) benchmark::DoNotOptimize(tokenizer.encode(text));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(text.size()));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--tokenizer=", 0) == 0) {
      g_tokenizer = arg.substr(12);
    } else if (arg.rfind("--bytes=", 0) == 0) {
      g_bytes = std::stoull(arg.substr(8));
    } else {
      args.push_back(argv[i]);
    }
  }
  if (g_tokenizer.empty()) {
    std::fprintf(stderr, "bench_tokenizer: --tokenizer=DIR is required (a CLIP tokenizer folder)\n");
    return 2;
  }
  // Each kind is one unit repeated: one long word of letters (no spaces), CJK letters (one word),
  // emoji (one run of symbols), digits (a token each), ordinary words, and a letter followed by
  // combining marks out of canonical order (NFC sorts them).
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"letters", "a"},          {"cjk", "\xE7\x8C\xAB"},         {"emoji", "\xF0\x9F\x98\x80"},
      {"digits", "0123456789"}, {"words", "a photo of a cat "}, {"marks", "\xCC\xA7\xCC\x81"}};
  for (const auto& [name, unit] : kinds) {
    benchmark::RegisterBenchmark(("encode/" + name).c_str(), BM_Encode, unit)->Unit(benchmark::kMillisecond);
  }
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
