#pragma once

// Watches a sampling loop for the first step whose sample is not finite without a host sync per
// step: the step index stays on the sample's device and is read once, at the end.

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace ddim::detail {

class NonFiniteWatch {
 public:
  explicit NonFiniteWatch(torch::Device device);
  // Notes `step` (0-based) when `sample` holds NaN or inf and no earlier step did.
  void check(int64_t step, const torch::Tensor& sample);
  // Throws SchedulerError naming the first noted step, 1-based, of timesteps.size() and its
  // timestep; `what` says which loop ("the sample", "EDICT's x sequence", ...).
  void raise_if_seen(const std::vector<int64_t>& timesteps, const std::string& what = "the sample") const;

 private:
  torch::Tensor first_bad_;
};

}  // namespace ddim::detail
