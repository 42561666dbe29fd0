#pragma once

// DPMSolverMultistepScheduler (DPM-Solver and DPM-Solver++, arXiv:2206.00927, arXiv:2211.01095),
// as diffusers' DPMSolverMultistepScheduler.

#include <torch/torch.h>

#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "ddim/schedulers/noise_schedule.h"
#include "ddim/schedulers/scheduler.h"

namespace ddim {

enum class DPMAlgorithmType { kDPMSolver, kDPMSolverPlusPlus, kSDEDPMSolver, kSDEDPMSolverPlusPlus };
enum class DPMSolverType { kMidpoint, kHeun };
enum class FinalSigmasType { kZero, kSigmaMin };
// diffusers' variance_type values; only learned and learned_range change anything here (the model
// output then carries twice the channels and the first half is used). The fixed_* values of
// DDPMScheduler configs are accepted and have no effect, as in diffusers.
enum class VarianceType { kLearned, kLearnedRange, kFixedSmall, kFixedSmallLog, kFixedLarge, kFixedLargeLog };
enum class TimeShiftType { kExponential };

// The config keys DPMSolverMultistepScheduler and DPMSolverMultistepInverseScheduler share.
struct DPMSolverBaseConfig : TrainScheduleConfig, ThresholdingConfig {
  int64_t solver_order = 2;
  PredictionType prediction_type = PredictionType::kEpsilon;
  DPMAlgorithmType algorithm_type = DPMAlgorithmType::kDPMSolverPlusPlus;
  DPMSolverType solver_type = DPMSolverType::kMidpoint;
  bool lower_order_final = true;
  bool euler_at_final = false;
  bool use_karras_sigmas = false;
  bool use_exponential_sigmas = false;
  bool use_beta_sigmas = false;
  bool use_flow_sigmas = false;
  double flow_shift = 1.0;
  double lambda_min_clipped = -std::numeric_limits<double>::infinity();
  std::optional<VarianceType> variance_type;
  TimestepSpacing timestep_spacing = TimestepSpacing::kLinspace;
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
  bool use_lu_lambdas = false;
  FinalSigmasType final_sigmas_type = FinalSigmasType::kZero;
  bool rescale_betas_zero_snr = false;
  // Accepted and written back; only set_timesteps(mu), which this library does not offer, uses them.
  bool use_dynamic_shifting = false;
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

class DPMSolverMultistepScheduler : public Scheduler {
 public:
  // Throws ConfigError when the config is invalid or is one diffusers cannot run.
  explicit DPMSolverMultistepScheduler(const DPMSolverMultistepSchedulerConfig& config = {});
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
  std::string class_name() const override { return "DPMSolverMultistepScheduler"; }

 private:
  DPMSolverMultistepSchedulerConfig config_;
  std::unique_ptr<detail::DPMSolverCore> core_;
};

std::string to_string(DPMAlgorithmType value);
std::string to_string(DPMSolverType value);

}  // namespace ddim
