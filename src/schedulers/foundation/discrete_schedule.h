#pragma once

// The state every scheduler here keeps: the training alphas_cumprod table (float32, as diffusers
// computes it) and the inference timesteps set by set_timesteps, on the host and as a tensor.

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ddim::detail {

class DiscreteSchedule {
 public:
  DiscreteSchedule() = default;
  // alphas_cumprod: 1-D float32 CPU tensor of length num_train_timesteps. Until set() the timesteps
  // are every training timestep, descending (forward schedulers) or ascending (inverse ones).
  DiscreteSchedule(std::string owner, torch::Tensor alphas_cumprod, bool descending = true);

  int64_t num_train_timesteps() const { return static_cast<int64_t>(alphas_.size()); }
  const torch::Tensor& alphas_cumprod() const { return alphas_cumprod_; }
  // alphas_cumprod[t] as a double; a negative t counts from the end, as Python indexing does.
  double alpha_prod(int64_t t) const;

  // alphas_cumprod[t] ** 0.5 and (1 - alphas_cumprod[t]) ** 0.5 as float32, with LibTorch's sqrt.
  float sqrt_alpha_prod(int64_t t) const { return sqrt_alphas_[index(t)]; }
  float sqrt_one_minus_alpha_prod(int64_t t) const { return sqrt_betas_[index(t)]; }

  // Throws SchedulerError unless 1 <= n <= num_train_timesteps.
  void check_num_inference_steps(int64_t n) const;
  // Installs a schedule. With `within_table` (DDIM, which reads alphas_cumprod at each timestep) a
  // timestep past the table is a SchedulerError; DPM-Solver's timesteps are only labels (its
  // sigmas come from np.interp, which clamps), so diffusers runs them past the end too.
  void set(std::vector<int64_t> timesteps, int64_t num_inference_steps, torch::Device device, bool within_table = true);
  bool is_set() const { return num_inference_steps_ > 0; }
  // Throws SchedulerError when set_timesteps has not been called.
  void require_set() const;
  int64_t num_inference_steps() const { return num_inference_steps_; }
  const std::vector<int64_t>& host_timesteps() const { return timesteps_; }
  const torch::Tensor& timesteps() const { return timesteps_tensor_; }
  // Position of t in the schedule; throws SchedulerError naming t when it is not there.
  size_t index_of(int64_t t) const;
  // All positions of t in the schedule (empty when absent).
  std::vector<size_t> positions_of(int64_t t) const;
  const std::string& owner() const { return owner_; }

 private:
  size_t index(int64_t t) const;

  std::string owner_;
  torch::Tensor alphas_cumprod_;
  std::vector<double> alphas_;
  std::vector<float> sqrt_alphas_;
  std::vector<float> sqrt_betas_;
  std::vector<int64_t> timesteps_;
  torch::Tensor timesteps_tensor_;
  int64_t num_inference_steps_ = 0;
};

}  // namespace ddim::detail
