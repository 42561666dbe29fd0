#pragma once

// What a run (GenerationJob::run, InversionJob::run) tells its caller while it works: the plan of
// each phase, every step, every file written, every batch finished; and what it did in the end.
// A tool prints them; an embedding app may show them, collect the files, or stop the run.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "ddim/export.h"
#include "ddim/pipelines/ddim_pipeline.h"
#include "ddim/runs/shard.h"

namespace ddim {

// A phase of a run about to start ("generate", "invert", "reconstruct").
struct DDIM_API RunPlan {
  std::string phase;
  uint64_t seed = 0;       // generation: the noise's seed (batch k draws from seed + k)
  int64_t num_images = 0;  // in the whole run
  int64_t batch_size = 0;
  int64_t batches = 0;  // in the whole run
  int64_t shard_index = 0, shard_count = 1;
  int64_t my_batches = 0;               // this process's (its shard's) batches
  int64_t my_images = 0;                // at most this many images in them
  std::optional<int64_t> replay_index;  // from a sidecar: the one image made again

  // The plan of `num_images` images in batches of `batch_size`, of which `mine` (the run's shard,
  // or one batch of it) runs here; `shard` is the run's --shard.
  static RunPlan of(std::string phase, int64_t num_images, int64_t batch_size, const Shard& shard, const Shard& mine);
};

// A file the run has written (after its temporary file was renamed into place).
struct WrittenFile {
  enum class Kind { kImage, kGrid, kLatents, kReconstruction, kManifest };
  Kind kind = Kind::kImage;
  std::filesystem::path path;
  int64_t index = -1;                  // the image it belongs to, -1 for a grid, a manifest, all latents
  std::optional<double> mse, psnr_db;  // a reconstruction's round trip against its original
};

struct RunEvents {
  std::function<void(const RunPlan&)> on_plan;
  StepCallback on_step;  // per denoising step of each batch; false stops the run between steps
  std::function<void(const WrittenFile&)> on_file;
  std::function<void(int64_t images)> on_batch;     // a batch of this shard finished
  std::function<void(const std::string&)> on_note;  // one line about the run, e.g. batches kept by resume
};

struct RunResult {
  int64_t batches_run = 0;
  int64_t batches_skipped = 0;  // kept by resume
  int64_t unreadable = 0;       // inputs skipped because they could not be read (exit status 1)
  bool cancelled = false;       // on_step returned false
  // When cancelled, or when inputs were skipped: one line saying what was written and how to go on.
  std::string note;
};

}  // namespace ddim
