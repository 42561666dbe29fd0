// ddim-generate: DDIM sampling from an exported UNet to PNG files (ddim::GenerationJob).
#include <CLI/CLI.hpp>
#include <iostream>
#include <iterator>
#include <vector>

#include "cli_common.h"
#include "ddim/ddim.h"

namespace {

constexpr const char* kExamples = R"(
Examples:
  ddim-generate -n 16 --seed 7 --grid digits.png
      16 digits from the embedded model, seed 7, tiled into one PNG (and digits.png.json).
  ddim-generate --model models/cifar10 --steps 100 --eta 0.5 -o 'img_%03d.png' -n 4
      4 images img_000.png ... img_003.png from an exported model, 100 steps, half DDPM noise.
  ddim-generate --latents a.pt --interpolate b.pt --frames 8 -o 'f_%d.png' --grid strip.png
      8 frames from a.pt's image to b.pt's (latents from ddim-invert: decoded with their method).
  ddim-generate --model models/my-class-model --class-label 3 --guidance-scale 2 -n 8 --grid threes.png
      8 images of class 3 from a class-conditional model, with classifier-free guidance at 2.
  ddim-generate --from-sidecar img_007.png.json -o again.png
      img_007.png made again, byte for byte, from the options its sidecar records.
)";

// The flags a sidecar's record replaces under --from-sidecar (and the condition flags).
constexpr const char* kRecordedFlags[] = {"--steps",  "--eta",      "--seed",    "--num-images",  "--batch-size",
                                          "--grid",   "--grid-gap", "--latents", "--interpolate", "--frames",
                                          "--model",  "--dtype",    "--set",     "--shard",       "--shards",
                                          "--resume", "--height",   "--width"};

// The line a run starts with.
void describe(const ddim::RunPlan& plan) {
  std::cerr << "ddim-generate: seed " << plan.seed << ", " << plan.num_images << " image"
            << (plan.num_images == 1 ? "" : "s") << " in " << plan.batches << " batch"
            << (plan.batches == 1 ? "" : "es") << " of " << plan.batch_size;
  if (plan.shard_count > 1) {
    std::cerr << ", shard " << plan.shard_index << "/" << plan.shard_count << " (" << plan.my_batches << " batches)";
  }
  if (plan.replay_index) {
    std::cerr << "; making image " << *plan.replay_index << " (batch " << *plan.replay_index / plan.batch_size
              << ") again";
  }
  std::cerr << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ddim-generate: turn Gaussian noise into images with DDIM, exactly as diffusers' DDIMPipeline does."};
  app.footer(kExamples);
  app.set_version_flag("--version", [] { return ddim::build_info(); });
  ddim::GenerationJob job;
  std::string model, seed, from_sidecar;
  bool quiet = false;
  ddim::cli::add_optional(app, "--steps", job.steps, "number of inference steps (default: 50)")
      ->check(ddim::cli::at_least(1));
  app.add_option("--eta", job.eta, "noise weight: 0 = DDIM, 1 = DDPM-like")
      ->check(ddim::cli::between(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--seed", seed,
                 "seed of the noise, 0 to 2^64-1; batch k draws from seed + k (random when absent; printed and "
                 "recorded)");
  ddim::cli::add_optional(app, "-n,--num-images", job.num_images,
                          "number of images (default: 1, or --batch-size when only that is given)")
      ->check(ddim::cli::at_least(1));
  ddim::cli::add_optional(app, "--batch-size", job.batch_size,
                          "images per batch (default: min(n, 16)); memory grows with it, and batch k is diffusers' "
                          "DDIMPipeline(batch_size, generator seed + k)")
      ->check(ddim::cli::at_least(1));
  app.add_option("-o,--output", job.output,
                 "PNG path; with several images a printf pattern (img_%03d.png) or _<i> before the extension")
      ->capture_default_str();
  app.add_option("--grid", job.grid, "also write one PNG tiling all the images (not with --shard)");
  app.add_option("--grid-gap", job.grid_gap, "white pixels between the grid's cells")
      ->check(ddim::cli::at_least(0))
      ->capture_default_str();
  app.add_option("--latents", job.latents,
                 "start from saved latents [N, C, H, W] (safetensors or torch.save); those of ddim-invert are decoded "
                 "with the method and, unless --steps is given, the step count their sidecar or entries name");
  app.add_option("--interpolate", job.interpolate,
                 "with --latents A: decode frames along the spherical interpolation from A to these latents (both "
                 "of one image, one method)");
  ddim::cli::add_optional(app, "--frames", job.frames,
                          "with --interpolate: frames, the first A's image and the last this file's (default: 8)")
      ->check(ddim::cli::at_least(2));
  ddim::cli::add_optional(app, "--height", job.height,
                          "image height in pixels: the model's (the UNet's sample size times the VAE's factor), "
                          "the only one a static export takes")
      ->check(ddim::cli::at_least(1));
  ddim::cli::add_optional(app, "--width", job.width, "image width in pixels, as --height")
      ->check(ddim::cli::at_least(1));
  app.add_option("--from-sidecar", from_sidecar,
                 "make one image again, byte for byte, from its sidecar (IMG.png.json): its model file (checked by "
                 "SHA-256), scheduler config and options; only -o, --device and --quiet go with it");
  ddim::cli::add_condition_flags(app, job.condition,
                                 "the model's: recorded by its export, else 7.5 with cross-attention");
  ddim::cli::add_scale_flags(app, job.shard, job.shards, job.resume, "");
  ddim::cli::add_model_flags(app, job.model, model, quiet);
  if (const int code = ddim::cli::parse(app, "ddim-generate", argc, argv); code >= 0) return code;

  return ddim::cli::run_tool("ddim-generate", [&] {
    if (!from_sidecar.empty()) {
      std::vector<const char*> recorded_flags(std::begin(kRecordedFlags), std::end(kRecordedFlags));
      recorded_flags.insert(recorded_flags.end(), std::begin(ddim::cli::kConditionFlags),
                            std::end(ddim::cli::kConditionFlags));
      for (const char* flag : recorded_flags) {
        if (app.count(flag)) {
          throw ddim::UsageError(std::string(flag) +
                                 " with --from-sidecar: the sidecar gives every option but -o, --device and --quiet");
        }
      }
      auto recorded = ddim::GenerationJob::from_sidecar(from_sidecar);
      recorded.output = job.output;
      if (app.count("--device")) recorded.model.device = job.model.device;
      job = recorded;
    } else {
      job.model.folder = ddim::cli::resolve_model(model, argv[0]);
      if (!seed.empty()) job.seed = ddim::cli::parse_seed(seed);
    }
    ddim::cli::Console console("ddim-generate", quiet, describe);
    return console.finish(job.run(console.events()));
  });
}
