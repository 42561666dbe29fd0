#include "pipelines/non_finite_watch.h"

#include <string>

#include "ddim/errors.h"

namespace ddim::detail {

NonFiniteWatch::NonFiniteWatch(torch::Device device)
    : first_bad_(torch::full({}, -1, torch::dtype(torch::kInt64).device(device))) {}

void NonFiniteWatch::check(int64_t step, const torch::Tensor& sample) {
  first_bad_ = torch::where((first_bad_ < 0).logical_and(torch::isfinite(sample).all().logical_not()), at::Scalar(step),
                            first_bad_);
}

void NonFiniteWatch::raise_if_seen(const std::vector<int64_t>& timesteps, const std::string& what) const {
  const int64_t bad = first_bad_.item<int64_t>();
  if (bad < 0) return;
  throw SchedulerError(what + " became non-finite (NaN or inf) at step " + std::to_string(bad + 1) + " of " +
                       std::to_string(timesteps.size()) + " (timestep " +
                       std::to_string(timesteps[static_cast<size_t>(bad)]) +
                       "): the model output or the scheduler config gives NaN there");
}

}  // namespace ddim::detail
