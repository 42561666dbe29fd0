#pragma once

// The DPM-Solver machinery shared by DPMSolverMultistepScheduler and its inverse: training tables,
// the model-output conversion, the first/second/third-order multistep updates (deterministic and
// SDE), and the step bookkeeping. The two schedulers differ only in where the sigmas go, which
// they compute in set_timesteps, and in the few step rules in Rules.

#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "ddim/schedulers/dpm_solver_multistep_scheduler.h"
#include "schedulers/foundation/discrete_schedule.h"
#include "schedulers/foundation/step_formulas.h"

namespace ddim::detail {

// Load-time checks of the shared keys; throws ConfigError for configs diffusers cannot run.
void check_dpm_config(const DPMSolverBaseConfig& config, const std::string& owner);

class DPMSolverCore {
 public:
  struct Rules {
    // Forward: the sample is upcast to float32 for the update (diffusers does) and SDE noise is
    // float32; the inverse keeps the model dtype.
    bool upcast_to_float32;
    // Forward with final_sigmas_type "zero": the last step is always first order.
    bool final_step_first_order;
    // The inverse scheduler: its third-order update has no SDE form.
    bool inverse;
  };

  DPMSolverCore(std::string owner, const DPMSolverBaseConfig& config, Rules rules, torch::Tensor alphas_cumprod,
                bool descending_initial_timesteps);

  const DiscreteSchedule& schedule() const { return schedule_; }
  // ((1 - a) / a) ** 0.5 over the training timesteps, float32 as diffusers computes it.
  const std::vector<float>& train_sigmas() const { return train_sigmas_; }
  // np.log of train_sigmas, float32.
  const std::vector<float>& log_sigmas() const { return log_sigmas_; }
  // torch.searchsorted(flip(lambda_t), lambda_min_clipped).
  int64_t clipped_index() const { return clipped_index_; }

  // The sigma spacing the config asks for (Karras, Lu lambdas, exponential, beta or flow) over
  // num_inference_steps points, with the timesteps they map to (_sigma_to_t, rounded for Karras and
  // Lu when `round_karras`); nullopt when the config asks for none. The forward scheduler spaces
  // from the largest training sigma down (`from_largest`), the inverse from the smallest up.
  struct SpacedSigmas {
    std::vector<double> sigmas;
    std::vector<double> timesteps;
  };
  std::optional<SpacedSigmas> spaced_sigmas(int64_t num_inference_steps, bool from_largest, bool round_karras,
                                            bool use_lu_lambdas) const;

  // Installs a schedule computed by the scheduler (timesteps; sigmas, one more or longer) and
  // resets the multistep state. A schedule diffusers would run into NaN or past its end is built
  // as diffusers builds it, with a warning; step() refuses the step where it would fail.
  void set_schedule(std::vector<int64_t> timesteps, std::vector<float> sigmas, torch::Device device);
  torch::Tensor sigmas() const;
  // The float timesteps a scheduler computed, truncated as torch's .to(int64) does; a non-finite
  // one (diffusers casts NaN to an arbitrary integer) is a SchedulerError.
  std::vector<int64_t> integer_timesteps(const std::vector<double>& timesteps) const;

  SchedulerOutput step(const torch::Tensor& model_output, int64_t timestep, const torch::Tensor& sample,
                       const StepOptions& options);
  torch::Tensor add_noise(const torch::Tensor& original_samples, const torch::Tensor& noise,
                          const torch::Tensor& timesteps) const;

 private:
  int order_for(size_t step_index, int lower_order_nums) const;
  // The scalars of the order-`order` update from step_index to step_index + 1.
  DPMUpdateScalars update_scalars(size_t step_index, int order) const;
  DPMConvertScalars convert_scalars(size_t step_index) const;
  torch::Tensor convert_model_output(const torch::Tensor& model_output, const torch::Tensor& sample,
                                     size_t step_index) const;
  bool is_sde() const;

  std::string owner_;
  DPMSolverBaseConfig config_;
  Rules rules_;
  DiscreteSchedule schedule_;
  std::vector<float> train_sigmas_;
  std::vector<float> log_sigmas_;
  int64_t clipped_index_ = 0;
  std::vector<float> sigmas_;
  // Per sigma: _sigma_to_alpha_sigma_t and lambda = log(alpha) - log(sigma). Per step i (from
  // sigma i to i + 1): h and the exponentials and roots the updates use. All float32 as diffusers
  // computes them, the transcendental ones by LibTorch.
  struct Tables {
    std::vector<float> alpha, sigma, lambda;
    std::vector<float> h, exp_neg_h, exp_h, exp_neg_2h, exp_2h, sqrt_1_minus_exp_neg_2h, sqrt_exp_2h_minus_1;
  };
  Tables tables_;
  void build_tables();
  // Multistep state, reset by set_schedule.
  std::vector<torch::Tensor> model_outputs_;
  int lower_order_nums_ = 0;
  int64_t step_index_ = -1;
  // The first step diffusers cannot run (its update is not finite or does not exist; -1: none),
  // found by set_schedule, and the error step() gives there.
  int64_t nonfinite_step_ = -1;
  std::string failure_;
};

}  // namespace ddim::detail
