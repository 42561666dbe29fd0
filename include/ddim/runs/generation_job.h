#pragma once

// GenerationJob: a whole run of ddim-generate as data. Noise (or saved latents, or frames between
// two latents files) to PNG files, each with a JSON sidecar recording everything its pixels depend
// on. The tool builds one from its flags; an embedding app builds one in code, or reads one back
// from a sidecar and remakes that image byte for byte. run() validates it, loads the model, runs
// the batches of its shard (skipping complete ones under resume) and writes the files.
//
//   ddim::GenerationJob job;
//   job.model.folder = "models/digits";
//   job.num_images = 16;
//   job.seed = 7;
//   job.grid = "digits.png";
//   job.run();
//
// Field names follow the tool's flags; every error names the flag ("--steps 0: ...").

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "ddim/export.h"
#include "ddim/runs/run_condition.h"
#include "ddim/runs/run_events.h"
#include "ddim/runs/run_model.h"

namespace ddim {

// The sidecar schema version every sidecar carries as "ddim_sidecar"; sidecars without the key
// were written before it and read the same way.
constexpr int kSidecarVersion = 1;

struct DDIM_API GenerationJob {
  RunModel model;
  std::optional<int64_t> steps;       // --steps: 50, or the step count latents of ddim-invert name
  double eta = 0.0;                   // --eta, in [0, 1]
  std::optional<uint64_t> seed;       // --seed: drawn at random (and recorded) when unset
  std::optional<int64_t> num_images;  // -n: 1 (--batch-size's when only that is set; the latents' count)
  std::optional<int64_t> batch_size;  // --batch-size: min(n, 16)
  std::string output = "ddim.png";    // -o: a PNG name or pattern (output_name)
  std::string grid;                   // --grid: also one PNG tiling every image
  int64_t grid_gap = 2;               // --grid-gap
  std::string latents;                // --latents: start from these latents instead of noise
  std::string interpolate;            // --interpolate: frames from `latents` to these
  std::optional<int64_t> frames;      // --frames: 8
  // --height / --width: the images' size in pixels, the model's own by default (a latent model's:
  // the UNet's sample_size times the VAE's downsampling factor). Exports are static in this version,
  // so any other size is refused, naming the one the folder takes.
  std::optional<int64_t> height;
  std::optional<int64_t> width;
  std::string shard;    // --shard i/N or auto
  int64_t shards = 0;   // --shards, with --shard auto
  bool resume = false;  // --resume
  // --class-label, --guidance-scale, --guidance-rescale, --embeds, --negative-embeds: what a
  // conditional model samples under (its default guidance when the scale is unset).
  RunCondition condition;

  // Set by from_sidecar: make image `index` of the recorded run again, with the recorded UNet file
  // (refused when its SHA-256 differs) and scheduler config; `output` names the one image.
  struct Replay {
    std::string source;             // "--from-sidecar <path>", for messages
    std::filesystem::path sidecar;  // the sidecar itself (an input: never an output of the replay)
    int64_t index = 0;
    int64_t batch = 0;
    std::string unet_file, unet_format, unet_sha256;
    std::string vae_file, vae_sha256;  // a latent model's VAE ("" when the record has none)
    std::string scheduler_config;      // JSON, as Python writes it
    std::string method;                // the sidecar's "method" object (JSON); the latents must still read so
    // The recorded SHA-256 of --embeds and --negative-embeds ("" when none): other files are refused.
    std::string embeds_sha256, negative_embeds_sha256;
    // With --prompt: the recorded "text_files" (JSON: text encoder and tokenizer files with their
    // SHA-256; "" in sidecars written before it was recorded): any change is refused.
    std::string text_files;
  };
  std::optional<Replay> replay;

  // The job of an image's sidecar (IMG.png.json of ddim-generate, any schema version up to
  // kSidecarVersion), to make that image again; the caller sets `output` (and may set
  // model.device). Throws UsageError naming the sidecar and the field that is missing or wrong.
  static GenerationJob from_sidecar(const std::filesystem::path& sidecar);

  // The checks that need no file: ranges, flags that go together, the output pattern. Throws
  // UsageError as the tool reports it.
  void validate() const;
  // validate(), then every check that reads files (the model, the latents, free memory, the
  // outputs' folders, outputs that would replace an input), then the batches. Throws before any
  // file is written when the run cannot be done.
  RunResult run(const RunEvents& events = {}) const;
};

}  // namespace ddim
