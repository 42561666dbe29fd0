#include "ddim/schedulers/config_enums.h"

#include "schedulers/foundation/config_io.h"

namespace ddim {
namespace config {

// The one table of diffusers names per enum: the first name of a value is the one written.
const EnumNameList<BetaSchedule>& enum_names(BetaSchedule) {
  static const EnumNameList<BetaSchedule> names{{BetaSchedule::kLinear, "linear"},
                                                {BetaSchedule::kScaledLinear, "scaled_linear"},
                                                {BetaSchedule::kSquaredcosCapV2, "squaredcos_cap_v2"}};
  return names;
}

const EnumNameList<PredictionType>& enum_names(PredictionType) {
  static const EnumNameList<PredictionType> names{{PredictionType::kEpsilon, "epsilon"},
                                                  {PredictionType::kSample, "sample"},
                                                  {PredictionType::kVPrediction, "v_prediction"},
                                                  {PredictionType::kFlowPrediction, "flow_prediction"}};
  return names;
}

const EnumNameList<TimestepSpacing>& enum_names(TimestepSpacing) {
  static const EnumNameList<TimestepSpacing> names{{TimestepSpacing::kLeading, "leading"},
                                                   {TimestepSpacing::kTrailing, "trailing"},
                                                   {TimestepSpacing::kLinspace, "linspace"}};
  return names;
}

const EnumNameList<DPMAlgorithmType>& enum_names(DPMAlgorithmType) {
  // diffusers rewrites "deis" to dpmsolver++.
  static const EnumNameList<DPMAlgorithmType> names{{DPMAlgorithmType::kDPMSolverPlusPlus, "dpmsolver++"},
                                                    {DPMAlgorithmType::kDPMSolver, "dpmsolver"},
                                                    {DPMAlgorithmType::kSDEDPMSolverPlusPlus, "sde-dpmsolver++"},
                                                    {DPMAlgorithmType::kSDEDPMSolver, "sde-dpmsolver"},
                                                    {DPMAlgorithmType::kDPMSolverPlusPlus, "deis"}};
  return names;
}

const EnumNameList<DPMSolverType>& enum_names(DPMSolverType) {
  // diffusers rewrites the UniPC / DEIS solver types to midpoint.
  static const EnumNameList<DPMSolverType> names{{DPMSolverType::kMidpoint, "midpoint"},
                                                 {DPMSolverType::kHeun, "heun"},
                                                 {DPMSolverType::kMidpoint, "logrho"},
                                                 {DPMSolverType::kMidpoint, "bh1"},
                                                 {DPMSolverType::kMidpoint, "bh2"}};
  return names;
}

const EnumNameList<FinalSigmasType>& enum_names(FinalSigmasType) {
  static const EnumNameList<FinalSigmasType> names{{FinalSigmasType::kZero, "zero"},
                                                   {FinalSigmasType::kSigmaMin, "sigma_min"}};
  return names;
}

const EnumNameList<VarianceType>& enum_names(VarianceType) {
  static const EnumNameList<VarianceType> names{
      {VarianceType::kLearned, "learned"},        {VarianceType::kLearnedRange, "learned_range"},
      {VarianceType::kFixedSmall, "fixed_small"}, {VarianceType::kFixedSmallLog, "fixed_small_log"},
      {VarianceType::kFixedLarge, "fixed_large"}, {VarianceType::kFixedLargeLog, "fixed_large_log"}};
  return names;
}

const EnumNameList<TimeShiftType>& enum_names(TimeShiftType) {
  static const EnumNameList<TimeShiftType> names{{TimeShiftType::kExponential, "exponential"}};
  return names;
}

}  // namespace config

std::string to_string(BetaSchedule value) { return config::enum_name(value); }
std::string to_string(PredictionType value) { return config::enum_name(value); }
std::string to_string(TimestepSpacing value) { return config::enum_name(value); }
std::string to_string(DPMAlgorithmType value) { return config::enum_name(value); }
std::string to_string(DPMSolverType value) { return config::enum_name(value); }
std::string to_string(FinalSigmasType value) { return config::enum_name(value); }
std::string to_string(VarianceType value) { return config::enum_name(value); }
std::string to_string(TimeShiftType value) { return config::enum_name(value); }

}  // namespace ddim
