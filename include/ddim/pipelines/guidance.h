#pragma once

// The condition a pipeline samples or inverts under, and classifier-free guidance (CFG), as
// diffusers' StableDiffusionPipeline applies it:
//
//   guidance_scale > 1:  one UNet call on the batch of 2B, the unconditional half first
//                        (torch.cat([negative, condition]), StableDiffusionPipeline's order; DiT
//                        puts the conditional half first), then
//                        noise = uncond + guidance_scale * (cond - uncond), and with
//                        guidance_rescale > 0 diffusers' rescale_noise_cfg (arXiv:2305.08891, 3.4)
//   guidance_scale <= 1: one conditional call on the batch of B (the negative condition unused)

#include <cstdint>
#include <optional>
#include <vector>

#include "ddim/export.h"
#include "ddim/models/condition.h"
#include "ddim/models/unet.h"

namespace ddim {

struct DDIM_API Guidance {
  // The condition of every image: batch 1 (repeated for each image) or one row per image. Empty
  // for an unconditional model.
  Condition condition;
  // The unconditional half under guidance. Empty: the null class of a class-conditional model
  // whose export records one (UNetConfig::null_class); a cross-attention model needs it given
  // (the embeddings of the negative prompt, "" by default in diffusers).
  Condition negative_condition;
  // Unset: the model's default, guidance_scale_for(config).
  std::optional<double> guidance_scale;
  double guidance_rescale = 0.0;  // in [0, 1]; used only when guidance is on

  // The scale a run uses: guidance_scale, else the export's recorded one, else 7.5 (diffusers' SD
  // pipelines) for a cross-attention model and 1 (no guidance) for any other.
  double guidance_scale_for(const UNetConfig& config) const;
  // Whether a step runs the UNet on both halves: a conditional model and a scale above 1.
  bool enabled_for(const UNetConfig& config) const;
  // The guidance of one run of `batch` images on this model, ready for the loop: the scale
  // resolved, both conditions repeated to `batch` rows, the null class filled in as the negative
  // condition. Throws UsageError naming the bad value: a scale negative or NaN, a rescale outside
  // [0, 1], a condition the model does not take or that is missing, a class label outside
  // [0, num_class_embeds), the null class given to a model trained without one, embeddings that are
  // not finite, a negative condition missing under guidance.
  Guidance resolved(const UNetConfig& config, int64_t batch) const;
  // The guidance of images [first, first + count) of a run of `total` images: a condition with a
  // row per image of the run is cut to those rows; a batch-1 one is kept. Throws UsageError for a
  // condition with another row count.
  Guidance for_images(int64_t first, int64_t count, int64_t total) const;
  // The same for any images of the run, in this order.
  Guidance for_images(const std::vector<int64_t>& images, int64_t total) const;
};

}  // namespace ddim
