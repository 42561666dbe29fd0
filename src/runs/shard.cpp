#include "ddim/runs/shard.h"

#include <cstdlib>

#include "ddim/errors.h"

namespace ddim {
namespace {

int64_t shard_number(const std::string& text, const std::string& what) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) {
    throw UsageError(what + " is not a whole number");
  }
  return std::stoll(text);
}

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

Shard Shard::parse(const std::string& text, int64_t shards) {
  Shard shard;
  if (text.empty()) {
    if (shards > 0) throw UsageError("--shards " + std::to_string(shards) + " goes with --shard auto");
    return shard;
  }
  if (text == "auto") {
    const std::string slurm_id = env_or_empty("SLURM_ARRAY_TASK_ID");
    const std::string job_index = env_or_empty("JOB_COMPLETION_INDEX");
    if (!slurm_id.empty()) {
      const std::string count = env_or_empty("SLURM_ARRAY_TASK_COUNT");
      if (count.empty()) throw UsageError("--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not");
      // Array indices may start anywhere (--array=1-8): the shard is the offset from the first.
      const std::string min = env_or_empty("SLURM_ARRAY_TASK_MIN");
      shard.index = shard_number(slurm_id, "SLURM_ARRAY_TASK_ID '" + slurm_id + "'") -
                    (min.empty() ? 0 : shard_number(min, "SLURM_ARRAY_TASK_MIN '" + min + "'"));
      shard.count = shard_number(count, "SLURM_ARRAY_TASK_COUNT '" + count + "'");
      if (shards > 0 && shards != shard.count) {
        throw UsageError("--shards " + std::to_string(shards) + " disagrees with SLURM_ARRAY_TASK_COUNT " + count);
      }
    } else if (!job_index.empty()) {
      if (shards < 1)
        throw UsageError("--shard auto with JOB_COMPLETION_INDEX needs --shards N (the Job's completions)");
      shard.index = shard_number(job_index, "JOB_COMPLETION_INDEX '" + job_index + "'");
      shard.count = shards;
    } else {
      throw UsageError(
          "--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm array job) nor JOB_COMPLETION_INDEX (a Kubernetes "
          "Indexed Job) is set; pass --shard i/N");
    }
  } else {
    const auto slash = text.find('/');
    if (slash == std::string::npos) throw UsageError("--shard " + one_line(text) + ": use i/N (0 <= i < N) or auto");
    shard.index = shard_number(text.substr(0, slash), "--shard " + one_line(text) + ": i");
    shard.count = shard_number(text.substr(slash + 1), "--shard " + one_line(text) + ": N");
    if (shards > 0) throw UsageError("--shards goes with --shard auto, not with --shard " + one_line(text));
  }
  if (shard.count < 1 || shard.index >= shard.count || shard.index < 0) {
    throw UsageError("--shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) +
                     ": need 0 <= i < N");
  }
  return shard;
}

}  // namespace ddim
