#pragma once

// DPMSolverMultistepScheduler (DPM-Solver and DPM-Solver++, arXiv:2206.00927, arXiv:2211.01095),
// as diffusers' DPMSolverMultistepScheduler.

#include <torch/torch.h>

#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "ddim/export.h"
#include "ddim/schedulers/config_base.h"
#include "ddim/schedulers/config_enums.h"
#include "ddim/schedulers/scheduler.h"

namespace ddim {

// The config keys DPMSolverMultistepScheduler and DPMSolverMultistepInverseScheduler share.
struct DPMSolverBaseConfig : TrainScheduleConfig, ThresholdingConfig {
  /// The solver order: 1, 2 or 3. diffusers recommends 2 for guided sampling and 3 for
  /// unconditional sampling. Default 2.
  int64_t solver_order = 2;
  /// What the model predicts: epsilon, sample, v_prediction or flow_prediction. Default epsilon.
  PredictionType prediction_type = PredictionType::kEpsilon;
  /// dpmsolver++ (data prediction, arXiv:2211.01095; recommended with solver_order 2 for guided
  /// sampling), dpmsolver (noise prediction, arXiv:2206.00927), or their SDE variants, which add
  /// noise at each step. Default dpmsolver++.
  DPMAlgorithmType algorithm_type = DPMAlgorithmType::kDPMSolverPlusPlus;
  /// The second-order update's form: midpoint (recommended) or heun; matters most for few steps.
  /// Default midpoint.
  DPMSolverType solver_type = DPMSolverType::kMidpoint;
  /// Lower the order in the final steps of schedules shorter than 15 steps, which stabilizes
  /// sampling with 10 steps or fewer. Default true.
  bool lower_order_final = true;
  /// A first-order (Euler) last step: more stable, less detail. Default false.
  bool euler_at_final = false;
  /// Karras sigmas (arXiv:2206.00364) for the step sizes. Default false.
  bool use_karras_sigmas = false;
  /// Exponentially spaced sigmas for the step sizes. Default false.
  bool use_exponential_sigmas = false;
  /// Beta-distribution sigmas (arXiv:2407.12173) for the step sizes. Default false.
  bool use_beta_sigmas = false;
  /// Flow-matching sigmas (with flow_prediction models). Default false.
  bool use_flow_sigmas = false;
  /// The shift of the flow-matching sigmas; used only with use_flow_sigmas, > 0. Default 1.0.
  double flow_shift = 1.0;
  /// Clips lambda(t) = log(alpha_t / sigma_t) from below for numerical stability (important with
  /// squaredcos_cap_v2): the schedule starts at the last timestep whose lambda is above it. Default -inf.
  double lambda_min_clipped = -std::numeric_limits<double>::infinity();
  /// learned or learned_range for models that also predict a variance (the first half of the
  /// output channels is used); the fixed_* values of DDPM configs change nothing. Default unset.
  std::optional<VarianceType> variance_type;
  /// How the inference timesteps are placed (arXiv:2305.08891, Table 2). Default linspace.
  TimestepSpacing timestep_spacing = TimestepSpacing::kLinspace;
  /// Added to the inference timesteps with leading spacing. Default 0.
  int64_t steps_offset = 0;

  template <class V>
  void visit_fields(V&& v) {
    TrainScheduleConfig::visit_fields(v);
    ThresholdingConfig::visit_fields(v);
    v("solver_order", solver_order);
    v("prediction_type", prediction_type);
    v("algorithm_type", algorithm_type);
    v("solver_type", solver_type);
    v("lower_order_final", lower_order_final);
    v("euler_at_final", euler_at_final);
    v("use_karras_sigmas", use_karras_sigmas);
    v("use_exponential_sigmas", use_exponential_sigmas);
    v("use_beta_sigmas", use_beta_sigmas);
    v("use_flow_sigmas", use_flow_sigmas);
    v("flow_shift", flow_shift);
    v("lambda_min_clipped", lambda_min_clipped);
    v("variance_type", variance_type);
    v("timestep_spacing", timestep_spacing);
    v("steps_offset", steps_offset);
  }
};

struct DPMSolverMultistepSchedulerConfig : DPMSolverBaseConfig {
  /// Step sizes uniform in log-SNR, as Lu et al.'s DPM-Solver proposes. Default false.
  bool use_lu_lambdas = false;
  /// The sigma after the last step: zero, or sigma_min (the last training sigma). Default zero.
  FinalSigmasType final_sigmas_type = FinalSigmasType::kZero;
  /// Rescale the betas to zero terminal SNR (arXiv:2305.08891); the last alphas_cumprod is then
  /// set to 2**-24 to keep log(sigma) finite, as diffusers does. Default false.
  bool rescale_betas_zero_snr = false;
  /// Accepted and written back; only set_timesteps(mu), which this library does not offer, uses it. Default false.
  bool use_dynamic_shifting = false;
  /// Accepted and written back, as use_dynamic_shifting. Default exponential.
  TimeShiftType time_shift_type = TimeShiftType::kExponential;

  template <class V>
  void visit_fields(V&& v) {
    DPMSolverBaseConfig::visit_fields(v);
    v("use_lu_lambdas", use_lu_lambdas);
    v("final_sigmas_type", final_sigmas_type);
    v("rescale_betas_zero_snr", rescale_betas_zero_snr);
    v("use_dynamic_shifting", use_dynamic_shifting);
    v("time_shift_type", time_shift_type);
  }
};

namespace detail {
class DPMSolverCore;
}

class DDIM_API DPMSolverMultistepScheduler : public Scheduler {
 public:
  static constexpr const char* kClassName = "DPMSolverMultistepScheduler";

  // Throws ConfigError when the config is invalid or is one diffusers cannot run.
  explicit DPMSolverMultistepScheduler(const DPMSolverMultistepSchedulerConfig& config = {});
  DPMSolverMultistepScheduler(const DPMSolverMultistepScheduler& other);
  DPMSolverMultistepScheduler& operator=(const DPMSolverMultistepScheduler&) =
      delete;  // polymorphic: copy with clone()
  ~DPMSolverMultistepScheduler() override;

  const DPMSolverMultistepSchedulerConfig& config() const { return config_; }
  // The sigmas of the current schedule (float32, one more than the timesteps).
  torch::Tensor sigmas() const;

  // Throws SchedulerError for a step count at which diffusers itself returns NaN or runs past the
  // end of its sigma table.
  void set_timesteps(int64_t num_inference_steps, torch::Device device = torch::kCPU) override;
  torch::Tensor timesteps() const override;
  SchedulerOutput step(const torch::Tensor& model_output, int64_t timestep, const torch::Tensor& sample,
                       const StepOptions& options = {}) override;
  torch::Tensor add_noise(const torch::Tensor& original_samples, const torch::Tensor& noise,
                          const torch::Tensor& timesteps) const override;
  std::string config_json() const override;
  std::string class_name() const override { return kClassName; }
  std::unique_ptr<Scheduler> clone() const override;

 private:
  DPMSolverMultistepSchedulerConfig config_;
  std::unique_ptr<detail::DPMSolverCore> core_;
};

}  // namespace ddim
