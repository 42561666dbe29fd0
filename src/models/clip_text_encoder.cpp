#include "ddim/models/clip_text_encoder.h"

#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <nlohmann/json.hpp>
#include <unordered_map>

#include "ddim/errors.h"
#include "ddim/io/files.h"
#include "ddim/warnings.h"
#include "io/json_values.h"
#include "models/batched_package.h"
#include "models/model_folder.h"
#include "models/package_cache.h"

namespace ddim {
namespace {

// As scripts/export_text_encoder.py writes it.
constexpr const char* kModelName = "model";
constexpr const char* kKind = "clip_text_encoder";
constexpr const char* kFormatVersion = "1";
constexpr const char* kReexport = "; re-export the folder with scripts/export_model.py SRC OUT";

// vocab_size of text_encoder/config.json (the export saves it beside the package): the rows of the
// encoder's token embedding, which every id the tokenizer gives must index.
int64_t encoder_vocab_size(const std::filesystem::path& config_path) {
  if (!std::filesystem::is_regular_file(config_path)) {
    throw ConfigError("cannot read " + config_path.string() + " (the text encoder's vocab_size)" + kReexport);
  }
  const auto config = nlohmann::json::parse(read_file(config_path), nullptr, /*allow_exceptions=*/false);
  const bool has = config.is_object() && config.contains("vocab_size");
  const auto rows = has ? detail::json_int64(config["vocab_size"]) : std::nullopt;
  if (!rows || *rows < 1) {
    throw ConfigError(config_path.string() + " has no valid vocab_size (" +
                      (has ? detail::json_excerpt(config["vocab_size"]) : std::string("absent or not JSON")) + ")" +
                      kReexport);
  }
  return *rows;
}

}  // namespace

struct CLIPTextEncoder::Model {
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader;
};

bool CLIPTextEncoder::exists(const std::filesystem::path& model_dir) {
  return std::filesystem::is_regular_file(model_dir / "text_encoder" / "model.pt2");
}

CLIPTextEncoder::CLIPTextEncoder(const std::filesystem::path& model_dir, torch::Device device)
    : model_(std::make_unique<Model>()),
      tokenizer_(CLIPTokenizer::from_pretrained(model_dir / "tokenizer")),
      package_(model_dir / "text_encoder" / "model.pt2") {
  if (!device.is_cpu()) {
    throw ConfigError(package_.string() + " cannot run on " + device.str() +
                      ": the text encoder runs on the CPU in this version");
  }
  if (!std::filesystem::is_regular_file(package_))
    throw ConfigError("cannot read " + package_.string() + ": no such file");
  const auto metadata = detail::read_package_metadata(package_, kModelName, kReexport);
  const auto field = [&](const std::string& key) { return detail::metadata_field(metadata, key); };
  const auto count = [&](const std::string& key) {
    try {
      return std::stoll(field(key));
    } catch (const std::exception&) {
      throw ConfigError(package_.string() + " has no valid " + key + " in its metadata" + kReexport);
    }
  };
  if (field("ddim.kind") != kKind || field("ddim.format_version") != kFormatVersion) {
    throw ConfigError(package_.string() + " is not a text encoder package of this version (kind '" +
                      field("ddim.kind") + "', format '" + field("ddim.format_version") + "')" + kReexport);
  }
  detail::check_package_fits(package_, metadata, kReexport);
  sequence_length_ = count("ddim.sequence_length");
  hidden_size_ = count("ddim.hidden_size");
  num_hidden_layers_ = count("ddim.num_hidden_layers");
  if (tokenizer_.model_max_length() != sequence_length_) {
    throw ConfigError((model_dir / "tokenizer" / "tokenizer_config.json").string() + ": model_max_length " +
                      std::to_string(tokenizer_.model_max_length()) + ", but " + package_.string() +
                      " takes sequences of " + std::to_string(sequence_length_) + kReexport);
  }
  // An id past the embedding table would be read out of bounds inside the compiled model.
  const auto config_path = model_dir / "text_encoder" / "config.json";
  if (const int64_t rows = encoder_vocab_size(config_path); tokenizer_.max_token_id() >= rows) {
    throw ConfigError((model_dir / "tokenizer" / "vocab.json").string() + " has ids up to " +
                      std::to_string(tokenizer_.max_token_id()) + ", but the text encoder takes ids below " +
                      std::to_string(rows) + " (vocab_size of " + config_path.string() +
                      "): the tokenizer is not this encoder's");
  }
  const auto unpacked = detail::unpacked_package(package_);
  try {
    model_->loader = std::make_unique<torch::inductor::AOTIModelPackageLoader>(
        (unpacked.empty() ? package_ : unpacked).string(), kModelName, false, 1, -1);
  } catch (const std::exception& e) {
    throw ConfigError("cannot load " + package_.string() + ": " + detail::first_sentence(e) + kReexport);
  }
}

CLIPTextEncoder::~CLIPTextEncoder() = default;

torch::Tensor CLIPTextEncoder::encode(const std::vector<std::string>& prompts, std::optional<int64_t> clip_skip) {
  if (clip_skip && (*clip_skip < 0 || *clip_skip > num_hidden_layers_)) {
    throw UsageError("clip_skip " + std::to_string(*clip_skip) + ": the text encoder has " +
                     std::to_string(num_hidden_layers_) + " layers (give 0 to " + std::to_string(num_hidden_layers_) +
                     ")");
  }
  // The package's rows: the final layer norm of hidden state 0 (the embeddings) to num_hidden_layers.
  const int64_t row = num_hidden_layers_ - (clip_skip ? *clip_skip : 0);
  std::vector<torch::Tensor> rows;
  rows.reserve(prompts.size());
  for (const auto& prompt : prompts) {
    std::string dropped;
    const auto ids = tokenizer_.encode(prompt, &dropped);
    if (!dropped.empty()) {
      warn("the prompt is cut to the text encoder's " + std::to_string(sequence_length_) +
           " tokens, as diffusers cuts it; dropped: \"" + one_line(dropped) + "\"");
    }
    auto input = torch::tensor(ids, torch::kInt64).view({1, sequence_length_});
    const auto states = model_->loader->run({input}).at(0);
    rows.push_back(states[row]);
  }
  if (rows.empty()) return torch::empty({0, sequence_length_, hidden_size_});
  return torch::cat(rows);
}

}  // namespace ddim
