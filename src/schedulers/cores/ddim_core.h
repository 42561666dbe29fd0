#pragma once

// The DDIM machinery shared by DDIMScheduler and DDIMInverseScheduler: the load-time checks of the
// shared keys, the training table and the alpha product beyond the schedule's end, the schedule
// bookkeeping, and add_noise. The two schedulers differ only in where the timesteps go and which
// two alphas a step goes between; both run the step's tensor work through detail::ddim_step.

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ddim/schedulers/ddim_scheduler.h"
#include "schedulers/foundation/discrete_schedule.h"

namespace ddim::detail {

class DDIMCore {
 public:
  // Checks the shared keys (ConfigError naming the key) and builds the tables. `inverse`: the
  // schedule runs from the image towards the noise (DDIMInverseScheduler).
  DDIMCore(std::string owner, const DDIMBaseConfig& config, bool inverse);

  const DiscreteSchedule& schedule() const { return schedule_; }

  // alphas_cumprod[t] and its roots (float32, LibTorch's sqrt); a negative t counts from the end,
  // as Python's indexing does (trailing spacing can place timestep -1, which diffusers reads as the
  // last training timestep).
  float alpha_prod(int64_t t) const { return static_cast<float>(schedule_.alpha_prod(t)); }
  float sqrt_alpha_prod(int64_t t) const { return schedule_.sqrt_alpha_prod(t); }
  float sqrt_one_minus_alpha_prod(int64_t t) const { return schedule_.sqrt_one_minus_alpha_prod(t); }
  // The same for the other end of a step (DDIM: prev_timestep; the inverse: the timestep it
  // starts from), where a negative t is beyond the schedule's end and diffusers uses
  // final_alpha_cumprod / initial_alpha_cumprod: 1 with set_alpha_to_one, else alphas_cumprod[0].
  float alpha_prod_or_boundary(int64_t t) const;
  float sqrt_alpha_prod_or_boundary(int64_t t) const;
  float sqrt_one_minus_alpha_prod_or_boundary(int64_t t) const;

  // Installs the timesteps a scheduler placed; warns, as diffusers' result deserves, when trailing
  // spacing gave fewer timesteps than steps.
  void set_schedule(std::vector<int64_t> timesteps, int64_t num_inference_steps, torch::Device device);
  // num_train_timesteps // num_inference_steps: how far one step goes. Throws before set_schedule.
  int64_t step_ratio() const;
  // Throws SchedulerError unless set_schedule was called and `timestep` is in the schedule.
  void check_step(int64_t timestep) const;

  // sqrt(a_t) x0 + sqrt(1 - a_t) noise, in the samples' dtype.
  torch::Tensor add_noise(const torch::Tensor& original_samples, const torch::Tensor& noise,
                          const torch::Tensor& timesteps) const;

 private:
  std::string owner_;
  int64_t num_train_timesteps_;
  bool inverse_;
  DiscreteSchedule schedule_;
  float boundary_alpha_;
  float boundary_sqrt_alpha_;
  float boundary_sqrt_beta_;
};

}  // namespace ddim::detail
