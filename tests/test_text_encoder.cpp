// The exported CLIP text encoder against diffusers' StableDiffusionPipeline.encode_prompt, on a tiny
// two-layer CLIPTextModel over CLIP's real vocabulary (the ctest fixture tests/make_text_fixture.sh
// makes it, its ddim export and the references of scripts/prompt_reference.py), and its refusals.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ddim/ddim.h"
#include "expect_refused.h"
#include "reference_file.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kFixture = DDIM_TEXT_FIXTURE_DIR;
const fs::path kModel = kFixture / "model";
// The compiled encoder against eager float32: about 2e-6 apart on values of order 1.
constexpr double kTolerance = 1e-5;

const ddim::test::ReferenceFile& reference() {
  static const auto ref = ddim::test::read_reference(kFixture / "ref");
  return ref;
}

class TextEncoder : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kFixture / "ref" / "reference.json")) {
      GTEST_SKIP() << "no text-model fixture at " << kFixture << " (made by the ctest fixture with the pinned "
                   << "diffusers and transformers)";
    }
  }
  // A copy of the exported folder, removed after the test.
  fs::path copy(const std::string& name) {
    const auto dir = fs::path(::testing::TempDir()) / ("ddim_text_" + name);
    fs::remove_all(dir);
    fs::copy(kModel, dir, fs::copy_options::recursive);
    copies_.push_back(dir);
    return dir;
  }
  void TearDown() override {
    for (const auto& dir : copies_) fs::remove_all(dir);
  }

 private:
  std::vector<fs::path> copies_;
};

using ddim::test::expect_refused;

double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

TEST_F(TextEncoder, EmbeddingsMatchEncodePrompt) {
  ddim::CLIPTextEncoder encoder(kModel, torch::kCPU);
  const auto& ref = reference();
  const auto prompts = ref.doc.at("prompts").get<std::vector<std::string>>();
  ASSERT_EQ(encoder.sequence_length(), 77);
  ASSERT_EQ(encoder.num_hidden_layers(), 2);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto key = "embeds_" + std::to_string(i);
    const auto got = encoder.encode({prompts[i]});
    EXPECT_LE(max_difference(got, ref.tensors.at(key)), kTolerance) << "prompt " << i << ": " << prompts[i];
    for (const auto skip : ref.doc.at("clip_skips").get<std::vector<int64_t>>()) {
      const auto& expected = ref.tensors.at(key + "_skip_" + std::to_string(skip));
      // The layers differ, so matching one row would not pass for the other.
      EXPECT_GT(max_difference(expected, ref.tensors.at(key)), 100 * kTolerance);
      EXPECT_LE(max_difference(encoder.encode({prompts[i]}, skip), expected), kTolerance)
          << "prompt " << i << ", clip_skip " << skip;
    }
  }
  // clip_skip 0 is the last hidden state; a batch is its prompts' rows; "" is the default negative prompt.
  EXPECT_LE(max_difference(encoder.encode({prompts[0]}, 0), ref.tensors.at("embeds_0")), kTolerance);
  const auto batch = encoder.encode(prompts);
  ASSERT_EQ(batch.size(0), static_cast<int64_t>(prompts.size()));
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_TRUE(torch::equal(batch[static_cast<int64_t>(i)], encoder.encode({prompts[i]})[0]));
  }
  EXPECT_LE(max_difference(encoder.encode({""}), ref.tensors.at("negative")), kTolerance);
}

// StableDiffusionPipeline(prompt, negative_prompt, guidance_scale, output_type="np") against the
// same loop given the encoder's embeddings: within 2 of 255 levels, at least 99 % of the bytes
// identical (the compiled UNet and encoder agree with eager to about 1e-6, not bit for bit).
TEST_F(TextEncoder, PromptsSampleAsStableDiffusionPipeline) {
  ddim::CLIPTextEncoder text(kModel, torch::kCPU);
  const auto unet = std::make_shared<ddim::AOTInductorUNet>(kModel, torch::kCPU, torch::kFloat32);
  const auto vae = std::shared_ptr<ddim::VAE>(ddim::load_vae(kModel));
  ASSERT_TRUE(vae);
  int64_t bytes = 0, identical = 0, worst_levels = 0, cases = 0;
  for (const auto& c : reference().doc.at("image_cases")) {
    ddim::DDIMPipeline pipe(unet, c.at("scheduler_config").get<std::string>());
    pipe.set_vae(vae);
    ddim::GenerateOptions options;
    options.batch_size = 1;
    options.num_inference_steps = c.at("steps").get<int64_t>();
    options.seed = c.at("seed").get<uint64_t>();
    std::optional<int64_t> skip;
    if (!c.at("clip_skip").is_null()) skip = c.at("clip_skip").get<int64_t>();
    const auto negative = c.at("negative_prompt").is_null() ? "" : c.at("negative_prompt").get<std::string>();
    options.guidance.condition.encoder_hidden_states = text.encode({c.at("prompt").get<std::string>()}, skip);
    options.guidance.negative_condition.encoder_hidden_states = text.encode({negative});
    options.guidance.guidance_scale = c.at("guidance_scale").get<double>();
    const auto got = pipe.generate(options).images;
    const auto& expected = reference().tensors.at("image_" + std::to_string(cases));
    ASSERT_EQ(got.sizes(), expected.sizes()) << c.dump();
    const auto a = ddim::images_to_uint8(got).to(torch::kInt32);
    const auto b = ddim::images_to_uint8(expected).to(torch::kInt32);
    worst_levels = std::max<int64_t>(worst_levels, (a - b).abs().max().item<int64_t>());
    bytes += a.numel();
    identical += (a == b).sum().item<int64_t>();
    ++cases;
  }
  std::cout << "image bytes identical " << 100.0 * static_cast<double>(identical) / static_cast<double>(bytes)
            << " %, largest difference " << worst_levels << " levels\n";
  EXPECT_EQ(cases, 2);
  EXPECT_LE(worst_levels, 2);
  EXPECT_GE(static_cast<double>(identical), 0.99 * static_cast<double>(bytes));
}

TEST_F(TextEncoder, RefusesBadClipSkipAndText) {
  ddim::CLIPTextEncoder encoder(kModel, torch::kCPU);
  expect_refused<ddim::UsageError>([&] { encoder.encode({"a cat"}, 3); }, "clip_skip 3");
  expect_refused<ddim::UsageError>([&] { encoder.encode({"a cat"}, -1); }, "clip_skip -1");
  expect_refused<ddim::UsageError>([&] { encoder.encode({std::string("a \xff cat")}); }, "UTF-8");
  EXPECT_TRUE(ddim::CLIPTextEncoder::exists(kModel));
  EXPECT_FALSE(ddim::CLIPTextEncoder::exists(kFixture / "src"));
}

TEST_F(TextEncoder, RefusesFoldersThatDoNotFit) {
  expect_refused<ddim::ConfigError>([&] { ddim::CLIPTextEncoder(kModel, torch::Device(torch::kCUDA)); },
                                    "cannot run on cuda");
  const auto missing = copy("missing");
  fs::remove(missing / "text_encoder" / "model.pt2");
  expect_refused<ddim::ConfigError>([&] { ddim::CLIPTextEncoder(missing, torch::kCPU); }, "no such file");
  const auto damaged = copy("damaged");
  std::ofstream(damaged / "text_encoder" / "model.pt2") << "not a package";
  expect_refused<ddim::ConfigError>([&] { ddim::CLIPTextEncoder(damaged, torch::kCPU); }, "damaged");
  const auto length = copy("length");
  const auto config_path = length / "tokenizer" / "tokenizer_config.json";
  auto config = json::parse(std::ifstream(config_path));
  config["model_max_length"] = 76;
  std::ofstream(config_path) << config.dump();
  expect_refused<ddim::ConfigError>([&] { ddim::CLIPTextEncoder(length, torch::kCPU); }, "model_max_length 76");
  // A package of another torch version is refused before its code loads.
  const auto other = copy("other_torch");
  const std::string cmd = std::string(DDIM_PYTHON_EXE) + " " + DDIM_SOURCE_DIR + "/tests/tamper_package.py " +
                          (kModel / "text_encoder" / "model.pt2").string() + " " +
                          (other / "text_encoder" / "model.pt2").string() + " ddim.torch_version=1.0.0";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  expect_refused<ddim::ConfigError>([&] { ddim::CLIPTextEncoder(other, torch::kCPU); }, "compiled with torch 1.0.0");
}

// An id past the encoder's embedding table would be read out of bounds inside the compiled model
// (an abort in an OpenMP region): the folder is refused when it is opened, naming the file and the
// largest id.
TEST_F(TextEncoder, RefusesVocabularyIdsPastTheEncoder) {
  const auto dir = copy("big_id");
  const auto vocab_path = dir / "tokenizer" / "vocab.json";
  auto vocab = json::parse(std::ifstream(vocab_path));
  vocab["a</w>"] = 4000000;
  std::ofstream(vocab_path) << vocab.dump();
  expect_refused<ddim::ConfigError>(
      [&] { ddim::CLIPTextEncoder(dir, torch::kCPU); },
      vocab_path.string() + " has ids up to 4000000, but the text encoder takes ids below ");
  const auto no_config = copy("no_config");
  fs::remove(no_config / "text_encoder" / "config.json");
  expect_refused<ddim::ConfigError>([&] { ddim::CLIPTextEncoder(no_config, torch::kCPU); },
                                    (no_config / "text_encoder" / "config.json").string());
}

// diffusers logs the part of a prompt past 77 tokens it cuts; so does the encoder, in one line that
// starts the cut text.
TEST_F(TextEncoder, WarnsWithTheStartOfATruncatedPrompt) {
  ddim::CLIPTextEncoder encoder(kModel, torch::kCPU);
  std::vector<std::string> warnings;
  const auto previous = ddim::set_warning_handler([&](const std::string& m) { warnings.push_back(m); });
  std::string prompt;
  for (int i = 0; i < 75; ++i) prompt += "cat ";
  encoder.encode({prompt});
  EXPECT_TRUE(warnings.empty());  // exactly 75 tokens fit
  encoder.encode({prompt + "dog sat on the mat " + prompt});
  ddim::set_warning_handler(previous);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("cut to the text encoder's 77 tokens"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("dropped: \"dog sat on the mat cat cat"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find(" ...\""), std::string::npos) << warnings[0];
  EXPECT_EQ(warnings[0].find('\n'), std::string::npos);
}

// A replay checks the text encoder's and the tokenizer's files as it checks the UNet's: another
// tokenizer gives other ids, another encoder other embeddings.
TEST_F(TextEncoder, ReplayRefusesAChangedTokenizerOrEncoder) {
  const auto dir = copy("replay");
  const auto out = fs::path(::testing::TempDir()) / "ddim_text_replay_out";
  fs::remove_all(out);
  fs::create_directories(out);
  ddim::GenerationJob job;
  job.model.folder = dir;
  job.model.device = "cpu";
  job.steps = 2;
  job.seed = 3;
  job.condition.prompt = "a cat";
  job.output = (out / "img.png").string();
  job.run();
  const auto side = json::parse(std::ifstream(out / "img.png.json"));
  ASSERT_TRUE(side.contains("text_files")) << side.dump();
  EXPECT_TRUE(side["text_files"].contains("tokenizer/vocab.json"));
  EXPECT_TRUE(side["text_files"].contains("text_encoder/model.pt2"));
  const auto replay = [&] {
    auto again = ddim::GenerationJob::from_sidecar(out / "img.png.json");
    again.output = (out / "again.png").string();
    again.run();
  };
  replay();  // unchanged: made again
  for (const char* file : {"tokenizer/tokenizer_config.json", "text_encoder/config.json"}) {
    const auto saved = dir / (std::string(file) + ".saved");
    fs::copy_file(dir / file, saved, fs::copy_options::overwrite_existing);
    std::ofstream(dir / file, std::ios::app) << "\n";  // the same JSON, other bytes
    expect_refused<ddim::UsageError>(replay, (dir / file).string() + " has SHA-256 ");
    fs::rename(saved, dir / file);
  }
  // A tokenizer file that appeared or vanished since (special_tokens_map.json is optional).
  const auto map = dir / "tokenizer" / "special_tokens_map.json";
  if (fs::exists(map)) {
    fs::remove(map);
    expect_refused<ddim::UsageError>(replay, map.string() + " is gone");
  } else {
    std::ofstream(map) << "{}";
    expect_refused<ddim::UsageError>(replay, map.string() + " is new since the image was made");
  }
  fs::remove_all(out);
}

// A text_encoder/model.pt2 that is a folder is named as such, not as missing.
TEST_F(TextEncoder, APackageThatIsAFolderIsNamed) {
  const auto dir = copy("folder");
  fs::remove(dir / "text_encoder" / "model.pt2");
  fs::create_directories(dir / "text_encoder" / "model.pt2");
  ddim::RunCondition condition;
  condition.prompt = "a cat";
  const auto unet = ddim::load_unet(dir);
  expect_refused<ddim::UsageError>([&] { condition.guidance(unet->config(), 1, dir); },
                                   (dir / "text_encoder" / "model.pt2").string() + " is not a file");
}

}  // namespace
