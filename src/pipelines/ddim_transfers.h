#pragma once

// The deterministic DDIM update (eta = 0, DDIM paper arXiv:2010.02502 eq. 12) as an affine map of the
// sample and the model output between two noise levels, for the exactly invertible samplers (EDICT,
// BDIA): from level a (alphas_cumprod) to level b,
//   x_b = sqrt(a_b) x0 + sqrt(1 - a_b) eps = cx x_a + cm m(x_a)
// where (x0, eps) come from the model output m as the config's prediction type says. No clipping
// or thresholding: the map must be undone exactly, x_a = (x_b - cm m) / cx, given the same m.

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "ddim/schedulers/ddim_scheduler.h"

namespace ddim::detail {

struct Affine {
  double cx = 1;  // weight of the sample
  double cm = 0;  // weight of the model output
  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& m) const { return x * cx + m * cm; }
  // The x that apply(x, m) maps to y.
  torch::Tensor undo(const torch::Tensor& y, const torch::Tensor& m) const { return (y - m * cm) / cx; }
};

class DDIMTransfers {
 public:
  // The schedule DDIMScheduler::set_timesteps(num_inference_steps) places, with the levels its step
  // uses: step k goes from alphas_cumprod[t_k] to alphas_cumprod[t_k - num_train_timesteps / N] (the
  // final level, 1 with set_alpha_to_one, below 0). Throws SchedulerError naming the step when a
  // coefficient is not finite (a zero-SNR level the prediction type cannot leave).
  DDIMTransfers(const DDIMScheduler& scheduler, int64_t num_inference_steps);

  int64_t size() const { return static_cast<int64_t>(timesteps_.size()); }
  int64_t timestep(int64_t k) const { return timesteps_[static_cast<size_t>(k)]; }
  // Step k of sampling: from t_k's level down to the next level.
  const Affine& down(int64_t k) const { return down_[static_cast<size_t>(k)]; }
  // From t_k's level back up to t_{k-1}'s (k >= 1): BDIA's backward integration.
  const Affine& up(int64_t k) const { return up_[static_cast<size_t>(k)]; }

 private:
  std::vector<int64_t> timesteps_;
  std::vector<Affine> down_, up_;
};

}  // namespace ddim::detail
