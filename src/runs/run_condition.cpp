#include "ddim/runs/run_condition.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

#include "ddim/errors.h"
#include "ddim/io/tensor_file.h"
#include "ddim/models/clip_text_encoder.h"
#include "runs/latents_files.h"

namespace ddim {
namespace {

std::vector<std::string> split_labels(const std::string& text) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, ',')) parts.push_back(part);
  if (!text.empty() && text.back() == ',') parts.emplace_back();
  return parts;
}

// "null", or a whole number in int64's range.
bool label_syntax(const std::string& label) {
  if (label == "null") return true;
  const size_t digits = label.size() - (label.rfind('-', 0) == 0 ? 1 : 0);
  if (digits == 0 || digits > 18) return false;
  return label.find_first_not_of("0123456789", label.size() - digits) == std::string::npos;
}

// --embeds / --negative-embeds: one tensor, or the "embeds" entry; [1 or images, L, D] as the model
// takes, floating and finite.
torch::Tensor read_embeds(const std::string& path, const char* flag, const UNetConfig& config, int64_t images) {
  NamedTensors tensors;
  try {
    tensors = load_tensors(path);
  } catch (const Error& e) {
    throw UsageError(std::string(flag) + " " + one_line(path) + ": " + e.what());
  }
  torch::Tensor embeds;
  if (tensors.size() == 1) {
    embeds = tensors.begin()->second;
  } else if (tensors.count("embeds")) {
    embeds = tensors.at("embeds");
  } else {
    throw UsageError(std::string(flag) + " " + one_line(path) + " holds " + std::to_string(tensors.size()) +
                     " tensors and none named 'embeds'");
  }
  const auto want = "[" + (images == 1 ? std::string("1") : "1 or " + std::to_string(images)) + ", " +
                    std::to_string(config.encoder_sequence_length) + ", " + std::to_string(config.cross_attention_dim) +
                    "]";
  if (embeds.dim() != 3 || (embeds.size(0) != 1 && embeds.size(0) != images) ||
      embeds.size(1) != config.encoder_sequence_length || embeds.size(2) != config.cross_attention_dim) {
    throw UsageError(std::string(flag) + " " + one_line(path) + ": embeddings of shape " + c10::str(embeds.sizes()) +
                     ": the model takes " + want + " for " + std::to_string(images) +
                     (images == 1 ? " image" : " images"));
  }
  if (!embeds.is_floating_point()) {
    throw UsageError(std::string(flag) + " " + one_line(path) + ": embeddings of type " +
                     c10::toString(embeds.scalar_type()) + ", not a floating type");
  }
  detail::check_finite(embeds, std::string(flag) + " " + one_line(path));
  return embeds;
}

// The labels a user gives, for messages: "0 to 9", with the null class apart ("0 to 9, or null
// (class 10)") rather than among the ordinary classes.
std::string class_range(const UNetConfig& config) {
  const int64_t last = config.num_class_embeds - 1;
  if (!config.null_class) return "0 to " + std::to_string(last);
  const int64_t null_class = *config.null_class;
  std::string ordinary;
  if (null_class == last || null_class == 0) {
    const int64_t from = null_class == 0 ? 1 : 0, to = null_class == last ? last - 1 : last;
    ordinary = from <= to ? std::to_string(from) + " to " + std::to_string(to) : "none";
  } else {
    ordinary = "0 to " + std::to_string(last) + " but " + std::to_string(null_class);
  }
  return ordinary + ", or null (class " + std::to_string(null_class) + ")";
}

}  // namespace

bool RunCondition::empty() const {
  return class_label.empty() && !guidance_scale && guidance_rescale == 0.0 && embeds.empty() &&
         negative_embeds.empty() && !prompt && !negative_prompt && !clip_skip;
}

void RunCondition::validate() const {
  if (guidance_scale && !(*guidance_scale >= 0 && std::isfinite(*guidance_scale))) {
    throw UsageError("--guidance-scale " + number_text(*guidance_scale) + ": must be a finite number >= 0");
  }
  if (!(guidance_rescale >= 0 && guidance_rescale <= 1)) {
    throw UsageError("--guidance-rescale " + number_text(guidance_rescale) + ": must be in [0, 1]");
  }
  if (prompt && !embeds.empty()) throw UsageError("--prompt and --embeds " + one_line(embeds) + ": give one of them");
  if (negative_prompt && !negative_embeds.empty()) {
    throw UsageError("--negative-prompt and --negative-embeds " + one_line(negative_embeds) + ": give one of them");
  }
  if (negative_prompt && !prompt) throw UsageError("--negative-prompt needs --prompt");
  if (clip_skip && !prompt) throw UsageError("--clip-skip " + std::to_string(*clip_skip) + " needs --prompt");
  if (clip_skip && *clip_skip < 0) throw UsageError("--clip-skip " + std::to_string(*clip_skip) + ": must be >= 0");
  if (class_label.empty()) return;
  for (const auto& label : split_labels(class_label)) {
    if (!label_syntax(label)) {
      throw UsageError("--class-label " + one_line(class_label) + ": '" + one_line(label) +
                       "' is not a class label (a whole number, or null)");
    }
  }
}

Guidance RunCondition::guidance(const UNetConfig& config, int64_t images,
                                const std::filesystem::path& model_dir) const {
  validate();
  if (!class_label.empty() && !config.takes_class_labels()) {
    throw UsageError("--class-label " + one_line(class_label) +
                     ": the model takes no class labels (its config has no num_class_embeds)");
  }
  if (config.takes_class_labels() && class_label.empty()) {
    throw UsageError("the model is class-conditional: give --class-label (" + class_range(config) + ")");
  }
  for (const auto& [path, flag] : {std::pair{embeds, "--embeds"}, std::pair{negative_embeds, "--negative-embeds"}}) {
    if (!path.empty() && !config.takes_encoder_hidden_states()) {
      throw UsageError(std::string(flag) + " " + one_line(path) + ": the model has no cross-attention");
    }
  }
  if (prompt && !config.takes_encoder_hidden_states()) {
    throw UsageError("--prompt " + one_line(*prompt) + ": the model has no cross-attention");
  }
  if (config.takes_encoder_hidden_states() && embeds.empty() && !prompt) {
    throw UsageError("the model has cross-attention: give --embeds (prompt embeddings [1, " +
                     std::to_string(config.encoder_sequence_length) + ", " +
                     std::to_string(config.cross_attention_dim) + "]) or --prompt (with a text encoder in the folder)");
  }
  if (!config.conditional() && (guidance_scale || guidance_rescale != 0)) {
    throw UsageError(std::string(guidance_scale ? "--guidance-scale " + number_text(*guidance_scale)
                                                : "--guidance-rescale " + number_text(guidance_rescale)) +
                     ": the model is unconditional (nothing to guide)");
  }
  Guidance result;
  result.guidance_scale = guidance_scale;
  result.guidance_rescale = guidance_rescale;
  if (!class_label.empty()) {
    std::vector<int64_t> labels;
    for (const auto& label : split_labels(class_label)) {
      if (label == "null") {
        if (!config.null_class) {
          throw UsageError(
              "--class-label null: the model's export records no null class (trained without label "
              "dropout)");
        }
        labels.push_back(*config.null_class);
        continue;
      }
      const int64_t value = std::stoll(label);
      if (value < 0 || value >= config.num_class_embeds) {
        throw UsageError("--class-label " + label + ": outside [0, " + std::to_string(config.num_class_embeds) +
                         "), the model's num_class_embeds (" + class_range(config) + ")");
      }
      labels.push_back(value);
    }
    if (labels.size() != 1 && static_cast<int64_t>(labels.size()) != images) {
      throw UsageError("--class-label " + one_line(class_label) + " gives " + std::to_string(labels.size()) +
                       " labels for " + std::to_string(images) + " images (give 1, for every image, or one each)");
    }
    result.condition.class_labels = torch::tensor(labels, torch::kLong);
  }
  if (!embeds.empty()) {
    result.condition.encoder_hidden_states = read_embeds(embeds, "--embeds", config, images);
  }
  if (!negative_embeds.empty()) {
    result.negative_condition.encoder_hidden_states = read_embeds(negative_embeds, "--negative-embeds", config, images);
  }
  if (prompt) {
    if (!CLIPTextEncoder::exists(model_dir)) {
      const auto package = model_dir / "text_encoder" / "model.pt2";
      throw UsageError("--prompt: " + package.string() +
                       (std::filesystem::exists(package) ? " is not a file" : " does not exist") +
                       " (export the StableDiffusionPipeline folder with its text_encoder/ and "
                       "tokenizer/ by scripts/export_model.py, or give --embeds)");
    }
    CLIPTextEncoder text(model_dir, torch::kCPU);
    if (text.sequence_length() != config.encoder_sequence_length || text.hidden_size() != config.cross_attention_dim) {
      throw ConfigError((model_dir / "text_encoder").string() + " gives embeddings [1, " +
                        std::to_string(text.sequence_length()) + ", " + std::to_string(text.hidden_size()) +
                        "], the UNet takes [1, " + std::to_string(config.encoder_sequence_length) + ", " +
                        std::to_string(config.cross_attention_dim) + "]");
    }
    const auto encode = [&](const std::string& flag, const std::string& text_in, std::optional<int64_t> skip) {
      try {
        return text.encode({text_in}, skip);
      } catch (const UsageError& e) {
        throw UsageError(flag + ": " + e.what());
      }
    };
    if (clip_skip && *clip_skip > text.num_hidden_layers()) {
      throw UsageError("--clip-skip " + std::to_string(*clip_skip) + ": the text encoder has " +
                       std::to_string(text.num_hidden_layers()) + " layers (give 0 to " +
                       std::to_string(text.num_hidden_layers()) + ")");
    }
    result.condition.encoder_hidden_states = encode("--prompt", *prompt, clip_skip);
    if (negative_embeds.empty() && result.enabled_for(config)) {
      result.negative_condition.encoder_hidden_states =
          encode("--negative-prompt", negative_prompt.value_or(""), std::nullopt);
    }
  }
  if (config.takes_encoder_hidden_states() && negative_embeds.empty() && !prompt && result.enabled_for(config)) {
    throw UsageError("--guidance-scale " + number_text(result.guidance_scale_for(config)) +
                     " needs --negative-embeds (the unconditional half; there is no text encoder to make them)");
  }
  return result;
}

}  // namespace ddim
