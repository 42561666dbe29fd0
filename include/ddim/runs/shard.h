#pragma once

// Which batches of a run one process takes: batch k belongs to shard k mod count, so the shards
// together make the whole run, byte for byte what one process would make.

#include <cstdint>
#include <string>

#include "ddim/export.h"

namespace ddim {

struct DDIM_API Shard {
  int64_t index = 0;
  int64_t count = 1;

  // "i/N"; "auto": from SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT (a
  // Slurm array job), else JOB_COMPLETION_INDEX with `shards` (a Kubernetes Indexed Job's
  // completions); "" = the one shard 0/1. Throws UsageError naming what is wrong (as --shard and
  // --shards).
  static Shard parse(const std::string& text, int64_t shards = 0);
  // Whether batch k is this shard's.
  bool owns(int64_t batch) const { return batch % count == index; }
  // How many of `batches` batches are this shard's.
  int64_t batches_of(int64_t batches) const { return (batches - index + count - 1) / count; }
};

}  // namespace ddim
