#pragma once

// The string-valued options of diffusers' scheduler configs, as enums. Each value's diffusers name
// (the string scheduler_config.json holds) is what to_string returns; the name tables live in one
// place, src/schedulers/config_enums.cpp, which the config reader and writer use too.

#include <string>

#include "ddim/export.h"

namespace ddim {

// How betas are spaced over the training timesteps (diffusers `beta_schedule`).
enum class BetaSchedule {
  kLinear,          // "linear"
  kScaledLinear,    // "scaled_linear": linear in sqrt(beta), then squared
  kSquaredcosCapV2  // "squaredcos_cap_v2": the cosine schedule (arXiv:2102.09672), betas capped at 0.999
};

// What the model predicts (diffusers `prediction_type`).
enum class PredictionType {
  kEpsilon,        // "epsilon": the noise
  kSample,         // "sample": the denoised sample x0
  kVPrediction,    // "v_prediction": v = alpha_t eps - sigma_t x0 (arXiv:2202.00512, section 2.4)
  kFlowPrediction  // "flow_prediction": the flow-matching velocity (DPM-Solver++ with flow sigmas only)
};

// How inference timesteps are placed (diffusers `timestep_spacing`, arXiv:2305.08891 Table 2).
enum class TimestepSpacing { kLeading, kTrailing, kLinspace };

// DPM-Solver's algorithm (diffusers `algorithm_type`); "deis" is read as dpmsolver++, as diffusers does.
enum class DPMAlgorithmType {
  kDPMSolver,            // "dpmsolver": noise prediction (arXiv:2206.00927)
  kDPMSolverPlusPlus,    // "dpmsolver++": data prediction (arXiv:2211.01095), the default
  kSDEDPMSolver,         // "sde-dpmsolver"
  kSDEDPMSolverPlusPlus  // "sde-dpmsolver++"
};

// The second-order update's form (diffusers `solver_type`); "logrho", "bh1", "bh2" read as midpoint.
enum class DPMSolverType { kMidpoint, kHeun };

// The sigma after the last step (diffusers `final_sigmas_type`): 0, or the last training sigma.
enum class FinalSigmasType { kZero, kSigmaMin };

// diffusers' variance_type values; only learned and learned_range change anything here (the model
// output then carries twice the channels and the first half is used). The fixed_* values of
// DDPMScheduler configs are accepted and have no effect, as in diffusers.
enum class VarianceType { kLearned, kLearnedRange, kFixedSmall, kFixedSmallLog, kFixedLarge, kFixedLargeLog };

// How set_timesteps(mu) shifts the schedule (diffusers `time_shift_type`); only "exponential".
enum class TimeShiftType { kExponential };

// The diffusers name of each value, e.g. to_string(PredictionType::kVPrediction) == "v_prediction".
DDIM_API std::string to_string(BetaSchedule value);
DDIM_API std::string to_string(PredictionType value);
DDIM_API std::string to_string(TimestepSpacing value);
DDIM_API std::string to_string(DPMAlgorithmType value);
DDIM_API std::string to_string(DPMSolverType value);
DDIM_API std::string to_string(FinalSigmasType value);
DDIM_API std::string to_string(VarianceType value);
DDIM_API std::string to_string(TimeShiftType value);

}  // namespace ddim
