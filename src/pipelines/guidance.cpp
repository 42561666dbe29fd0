#include "ddim/pipelines/guidance.h"

#include <cmath>

#include "ddim/errors.h"

namespace ddim {
namespace {

// diffusers' StableDiffusionPipeline default.
constexpr double kCrossAttentionGuidance = 7.5;

// Labels in [0, num_class_embeds); read on the host once per run.
void check_labels(const torch::Tensor& labels, const UNetConfig& config, const std::string& what) {
  if (!labels.defined() || labels.scalar_type() != torch::kLong) return;  // check_condition names it
  const auto host = labels.to(torch::kCPU).contiguous();
  const auto* data = host.data_ptr<int64_t>();
  for (int64_t i = 0; i < host.numel(); ++i) {
    if (data[i] < 0 || data[i] >= config.num_class_embeds) {
      throw UsageError(what + " class label " + std::to_string(data[i]) + " is outside [0, " +
                       std::to_string(config.num_class_embeds) + "), the model's num_class_embeds");
    }
  }
}

void check_finite(const torch::Tensor& states, const std::string& what) {
  if (states.defined() && states.is_floating_point() && !torch::isfinite(states).all().item<bool>()) {
    throw UsageError(what + " encoder_hidden_states hold NaN or infinite values");
  }
}

}  // namespace

double Guidance::guidance_scale_for(const UNetConfig& config) const {
  if (guidance_scale) return *guidance_scale;
  if (config.guidance_scale) return *config.guidance_scale;
  return config.takes_encoder_hidden_states() ? kCrossAttentionGuidance : 1.0;
}

bool Guidance::enabled_for(const UNetConfig& config) const {
  return config.conditional() && guidance_scale_for(config) > 1.0;
}

Guidance Guidance::resolved(const UNetConfig& config, int64_t batch) const {
  const double scale = guidance_scale_for(config);
  if (!(scale >= 0) || !std::isfinite(scale)) {
    throw UsageError("guidance_scale " + number_text(scale) + " must be a finite number >= 0");
  }
  if (!(guidance_rescale >= 0 && guidance_rescale <= 1)) {
    throw UsageError("guidance_rescale " + number_text(guidance_rescale) + " must be in [0, 1]");
  }
  if (!config.conditional() && (!condition.empty() || !negative_condition.empty())) {
    config.check_condition(condition.empty() ? negative_condition : condition, batch);  // names the input
  }
  Guidance run;
  run.guidance_scale = scale;
  run.guidance_rescale = guidance_rescale;
  run.condition = condition.expanded(batch, "condition");
  config.check_condition(run.condition, batch);
  check_labels(run.condition.class_labels, config, "condition:");
  check_finite(run.condition.encoder_hidden_states, "condition:");
  if (!run.enabled_for(config)) return run;
  if (negative_condition.empty()) {
    if (config.takes_encoder_hidden_states()) {
      throw UsageError("guidance_scale " + number_text(scale) +
                       " needs a negative condition: the encoder_hidden_states of the unconditional half (a "
                       "negative prompt's embeddings)");
    }
    if (!config.null_class) {
      throw UsageError("guidance_scale " + number_text(scale) +
                       " needs the null class, and this model's export records none (a model trained without "
                       "label dropout); use guidance_scale 1 or give a negative condition");
    }
    run.negative_condition.class_labels = torch::full({batch}, *config.null_class, torch::kLong);
  } else {
    run.negative_condition = negative_condition.expanded(batch, "negative condition");
    // A cross-attention model with class labels (e.g. a noise level) takes the same labels in both
    // halves unless the negative condition names its own, as StableDiffusionUpscalePipeline does.
    if (!run.negative_condition.class_labels.defined() && config.takes_class_labels()) {
      run.negative_condition.class_labels = run.condition.class_labels;
    }
  }
  config.check_condition(run.negative_condition, batch);
  check_labels(run.negative_condition.class_labels, config, "negative condition:");
  check_finite(run.negative_condition.encoder_hidden_states, "negative condition:");
  return run;
}

Guidance Guidance::for_images(int64_t first, int64_t count, int64_t total) const {
  std::vector<int64_t> images(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) images[static_cast<size_t>(i)] = first + i;
  return for_images(images, total);
}

Guidance Guidance::for_images(const std::vector<int64_t>& images, int64_t total) const {
  const auto index = torch::tensor(images, torch::kLong);
  const auto pick = [&](const torch::Tensor& tensor) {
    return tensor.defined() ? tensor.index_select(0, index.to(tensor.device())) : tensor;
  };
  const auto rows = [&](const Condition& whole, const std::string& what) {
    const int64_t n = whole.batch_size();
    if (n == 0 || (n == 1 && total != 1)) return whole;
    if (n != total) {
      throw UsageError(what + " holds " + std::to_string(n) + " rows for " + std::to_string(total) +
                       " images (give 1, for every image, or " + std::to_string(total) + ")");
    }
    return Condition{pick(whole.class_labels), pick(whole.encoder_hidden_states)};
  };
  Guidance part = *this;
  part.condition = rows(condition, "condition");
  part.negative_condition = rows(negative_condition, "negative condition");
  return part;
}

}  // namespace ddim
