#include "schedulers/foundation/discrete_schedule.h"

#include <utility>

#include "ddim/errors.h"

namespace ddim::detail {

DiscreteSchedule::DiscreteSchedule(std::string owner, torch::Tensor alphas_cumprod, bool descending)
    : owner_(std::move(owner)), alphas_cumprod_(std::move(alphas_cumprod)) {
  const auto values = alphas_cumprod_.to(torch::kFloat64).contiguous();
  alphas_.assign(values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
  const auto sqrt_alpha = torch::pow(alphas_cumprod_, 0.5).contiguous();
  const auto sqrt_beta = torch::pow(torch::rsub(alphas_cumprod_, 1), 0.5).contiguous();
  sqrt_alphas_.assign(sqrt_alpha.data_ptr<float>(), sqrt_alpha.data_ptr<float>() + sqrt_alpha.numel());
  sqrt_betas_.assign(sqrt_beta.data_ptr<float>(), sqrt_beta.data_ptr<float>() + sqrt_beta.numel());
  std::vector<int64_t> all(alphas_.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(descending ? all.size() - 1 - i : i);
  timesteps_ = all;
  timesteps_tensor_ = torch::tensor(all, torch::kInt64);
}

size_t DiscreteSchedule::index(int64_t t) const {
  const int64_t n = num_train_timesteps();
  const int64_t i = t < 0 ? t + n : t;
  if (i < 0 || i >= n) {
    throw SchedulerError(owner_ + ": timestep " + std::to_string(t) + " is outside the training range [0, " +
                         std::to_string(n - 1) + "]");
  }
  return static_cast<size_t>(i);
}

double DiscreteSchedule::alpha_prod(int64_t t) const { return alphas_[index(t)]; }

void DiscreteSchedule::check_num_inference_steps(int64_t n) const {
  if (n < 1 || n > num_train_timesteps()) {
    throw SchedulerError(owner_ + ": num_inference_steps " + std::to_string(n) + " is out of range [1, " +
                         std::to_string(num_train_timesteps()) + "] (num_train_timesteps)");
  }
}

void DiscreteSchedule::set(std::vector<int64_t> timesteps, int64_t num_inference_steps, torch::Device device,
                           bool within_table) {
  for (int64_t t : within_table ? timesteps : std::vector<int64_t>{}) {
    if (t >= num_train_timesteps()) {
      throw SchedulerError(owner_ + ": set_timesteps(" + std::to_string(num_inference_steps) + ") gives timestep " +
                           std::to_string(t) + ", past num_train_timesteps " + std::to_string(num_train_timesteps()) +
                           " (steps_offset too large)");
    }
  }
  timesteps_ = std::move(timesteps);
  timesteps_tensor_ = torch::tensor(timesteps_, torch::kInt64).to(device);
  num_inference_steps_ = num_inference_steps;
}

void DiscreteSchedule::require_set() const {
  if (!is_set()) throw SchedulerError(owner_ + ": step() called before set_timesteps()");
}

std::vector<size_t> DiscreteSchedule::positions_of(int64_t t) const {
  std::vector<size_t> out;
  for (size_t i = 0; i < timesteps_.size(); ++i) {
    if (timesteps_[i] == t) out.push_back(i);
  }
  return out;
}

size_t DiscreteSchedule::index_of(int64_t t) const {
  for (size_t i = 0; i < timesteps_.size(); ++i) {
    if (timesteps_[i] == t) return i;
  }
  throw SchedulerError(owner_ + ": timestep " + std::to_string(t) + " is not in the schedule set by set_timesteps(" +
                       std::to_string(num_inference_steps_) + ")");
}

}  // namespace ddim::detail
