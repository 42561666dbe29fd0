// libFuzzer harness: embeddings-file bytes through the reader of ddim-generate's and ddim-invert's
// --embeds: RunCondition::guidance with `embeds` set, on a cross-attention model's config (77 tokens
// of 32 features) and a run of 2 images. That is ddim::load_tensors (safetensors parsed by ddim;
// torch.save zips checked by ddim, then LibTorch's unpickler) and then run_condition.cpp's checks of
// the entry, its shape, its type and its values (read_embeds, private to that file). Embeddings it
// accepts must be [1 or 2, 77, 32], floating and finite, and resolve to the guidance of 2 images.
// The bytes go through a file in a per-process temporary folder because the reader takes paths.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ddim/runs/run_condition.h"
#include "fuzz_support.h"

namespace {

constexpr int64_t kImages = 2, kTokens = 77, kFeatures = 32;

ddim::UNetConfig cross_attention_config() {
  ddim::UNetConfig config;
  config.in_channels = config.out_channels = 4;
  config.sample_height = config.sample_width = 8;
  config.inputs = {"sample", "timestep", "encoder_hidden_states"};
  config.encoder_sequence_length = kTokens;
  config.cross_attention_dim = kFeatures;
  return config;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& dir = ddim::fuzz::scratch_dir("embeds");
  const auto path = dir / "embeds.safetensors";
  ddim::fuzz::write_bytes(path, data, size);
  static const ddim::UNetConfig config = cross_attention_config();
  ddim::fuzz::expect_only_ddim_errors([&] {
    ddim::RunCondition condition;
    condition.embeds = path.string();
    condition.guidance_scale = 1.0;  // no guidance: no --negative-embeds needed
    // The model folder is read only for --prompt; the scratch folder stands in.
    const auto guidance = condition.guidance(config, kImages, dir);
    const auto& embeds = guidance.condition.encoder_hidden_states;
    if (!embeds.defined() || embeds.dim() != 3 || (embeds.size(0) != 1 && embeds.size(0) != kImages) ||
        embeds.size(1) != kTokens || embeds.size(2) != kFeatures || !embeds.is_floating_point()) {
      ddim::fuzz::finding("--embeds accepted embeddings " +
                          (embeds.defined() ? c10::str(embeds.sizes(), " ", embeds.scalar_type()) : "undefined") +
                          " for [1 or 2, 77, 32] floating");
    }
    if (!torch::isfinite(embeds).all().item<bool>()) ddim::fuzz::finding("--embeds accepted non-finite embeddings");
    const auto resolved = guidance.resolved(config, kImages);
    const auto& rows = resolved.condition.encoder_hidden_states;
    if (!rows.defined() || rows.sizes() != torch::IntArrayRef({kImages, kTokens, kFeatures})) {
      ddim::fuzz::finding("accepted embeddings resolve to " +
                          (rows.defined() ? c10::str(rows.sizes()) : std::string("undefined")) + " for 2 images");
    }
  });
  return 0;
}
