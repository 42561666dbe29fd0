#pragma once

// InversionJob: a whole run of ddim-invert as data. Images (files, folders, @lists) to the latent
// noise sampling turns back into them, by one of the InversionMethod methods: all in one latents
// file (-o) or one file per image with a manifest (--output-dir, shardable and resumable), each
// with a sidecar; optionally sampled back (--reconstruct) with MSE and PSNR. run() validates it,
// loads the model and writes the files. Field names follow the tool's flags.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ddim/export.h"
#include "ddim/pipelines/inversion_method.h"
#include "ddim/runs/run_condition.h"
#include "ddim/runs/run_events.h"
#include "ddim/runs/run_model.h"

namespace ddim {

struct DDIM_API InversionJob {
  RunModel model;
  std::vector<std::string> inputs;       // images (PNG, JPEG), folders of them (recursive), @list.txt
  std::string method;                    // --method: "" = --scheduler's (ddim)
  std::optional<std::string> scheduler;  // --scheduler: ddim or dpmsolver
  std::optional<int64_t> iterations;     // --iterations (fixed-point)
  std::optional<double> tolerance;       // --tolerance (fixed-point)
  std::optional<double> edict_p;         // --edict-p (edict)
  std::optional<double> bdia_gamma;      // --bdia-gamma (bdia)
  int64_t steps = 50;                    // --steps
  std::optional<std::string> output;     // -o: every image's latents in one file (latents.pt)
  std::string output_dir;                // --output-dir: one latents file per image, and a manifest
  std::string reconstruct;               // --reconstruct: PNG name or pattern (a folder with --output-dir)
  int64_t batch_size = 16;               // --batch-size
  bool resize = false;                   // --resize
  // --encode-seed: encode through an AutoencoderKL as a draw from its posterior
  // (latent_dist.sample, as pix2pix-zero's invert) instead of its mode (the default,
  // deterministic): the batch whose first input is input k draws from a CPU generator seeded
  // encode_seed + k (the sidecar records the batch size). Refused for a VQModel or a pixel-space model.
  std::optional<uint64_t> encode_seed;
  std::string shard;    // --shard, with --output-dir
  int64_t shards = 0;   // --shards
  bool resume = false;  // --resume, with --output-dir
  // The condition to invert under (a conditional model), one label or embedding per input image or
  // one for all; the guidance scale defaults to 1 here.
  RunCondition condition;

  // The method with its parameters: --method (or --scheduler's pair), each parameter only with its
  // method. Throws UsageError naming the flag.
  InversionMethod resolved_method() const;

  // The job a latents file's sidecar (ddim-invert's) records: model, device, dtype, overrides,
  // method and parameters, steps, batch size, resize and inputs; outputs are the caller's. Throws
  // UsageError naming the sidecar and the field that is missing or wrong.
  static InversionJob from_sidecar(const std::filesystem::path& sidecar);

  void validate() const;
  // validate(), the checks that read files, then the run. Throws before any file is written when
  // the run cannot be done; an unreadable image under --output-dir is skipped and counted.
  RunResult run(const RunEvents& events = {}) const;
};

}  // namespace ddim
