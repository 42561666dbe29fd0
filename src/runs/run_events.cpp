#include "ddim/runs/run_events.h"

#include <algorithm>
#include <utility>

namespace ddim {

RunPlan RunPlan::of(std::string phase, int64_t num_images, int64_t batch_size, const Shard& shard, const Shard& mine) {
  RunPlan plan;
  plan.phase = std::move(phase);
  plan.num_images = num_images;
  plan.batch_size = batch_size;
  plan.batches = DDIMPipeline::batch_count(num_images, batch_size);
  plan.shard_index = shard.index;
  plan.shard_count = shard.count;
  plan.my_batches = mine.batches_of(plan.batches);
  plan.my_images = std::min(num_images, plan.my_batches * batch_size);
  return plan;
}

}  // namespace ddim
