#include "ddim/pipelines/inversion_method.h"

#include <cmath>

#include "ddim/errors.h"
#include "ddim/schedulers/ddim_inverse_scheduler.h"
#include "ddim/schedulers/ddim_scheduler.h"
#include "ddim/schedulers/dpm_solver_multistep_inverse_scheduler.h"
#include "ddim/schedulers/dpm_solver_multistep_scheduler.h"

namespace ddim {
namespace {

const std::vector<std::pair<const char*, InversionMethod::Kind>>& names() {
  static const std::vector<std::pair<const char*, InversionMethod::Kind>> table = {
      {"ddim", InversionMethod::Kind::kDDIM},
      {"dpmsolver", InversionMethod::Kind::kDPMSolver},
      {"fixed-point", InversionMethod::Kind::kFixedPoint},
      {"edict", InversionMethod::Kind::kEDICT},
      {"bdia", InversionMethod::Kind::kBDIA}};
  return table;
}

}  // namespace

const char* inverse_class_name(InverseScheduler kind) {
  return kind == InverseScheduler::kDDIM ? DDIMInverseScheduler::kClassName
                                         : DPMSolverMultistepInverseScheduler::kClassName;
}

const char* forward_class_name(InverseScheduler kind) {
  return kind == InverseScheduler::kDDIM ? DDIMScheduler::kClassName : DPMSolverMultistepScheduler::kClassName;
}

InversionMethod InversionMethod::from_name(const std::string& name) {
  for (const auto& [n, kind] : names()) {
    if (name == n) {
      InversionMethod method;
      method.kind = kind;
      if (kind == Kind::kDPMSolver) method.scheduler = InverseScheduler::kDPMSolver;
      return method;
    }
  }
  throw UsageError("unknown inversion method '" + one_line(name) + "' (ddim, dpmsolver, fixed-point, edict or bdia)");
}

std::string InversionMethod::name() const {
  for (const auto& [n, k] : names()) {
    if (k == kind) return n;
  }
  return "?";
}

void InversionMethod::validate() const {
  if (kind == Kind::kFixedPoint) {
    if (iterations < 1) {
      throw UsageError("fixed-point iterations " + std::to_string(iterations) + ": at least 1");
    }
    if (!(tolerance >= 0) || !std::isfinite(tolerance)) {
      throw UsageError("fixed-point tolerance " + number_text(tolerance) + ": a finite number >= 0");
    }
  }
  if (kind == Kind::kEDICT && !(edict_p > 0 && edict_p < 1)) {
    throw UsageError("EDICT p " + number_text(edict_p) + ": must lie in (0, 1)");
  }
  if (kind == Kind::kBDIA && !(bdia_gamma > 0 && bdia_gamma <= 1)) {
    throw UsageError("BDIA gamma " + number_text(bdia_gamma) + ": must lie in (0, 1]");
  }
}

InverseScheduler InversionMethod::scheduler_pair() const {
  switch (kind) {
    case Kind::kDPMSolver:
      return InverseScheduler::kDPMSolver;
    case Kind::kFixedPoint:
      return scheduler;
    default:
      return InverseScheduler::kDDIM;
  }
}

std::vector<std::string> InversionMethod::latents_keys() const {
  if (kind == Kind::kEDICT) return {"latents", "edict_y", "edict_p", "num_inference_steps"};
  if (kind == Kind::kBDIA) return {"latents", "bdia_next", "bdia_gamma", "num_inference_steps"};
  return {"latents"};
}

}  // namespace ddim
