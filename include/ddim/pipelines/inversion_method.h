#pragma once

// How an InversionPipeline turns images into latents and back: the method and its parameters.
//
//   ddim         DDIMInverseScheduler, back with DDIMScheduler (diffusers' DDIM inversion)
//   dpmsolver    DPMSolverMultistepInverseScheduler, back with DPMSolverMultistepScheduler
//   fixed-point  either pair, each inversion step refined by fixed-point iteration: the UNet is
//                evaluated at the step's own result instead of its start (AIDI, arXiv:2309.04907;
//                ReNoise, arXiv:2403.14602); back with the pair's forward scheduler
//   edict        EDICT (arXiv:2211.12446): two coupled DDIM sequences, exactly invertible
//   bdia         BDIA-DDIM (arXiv:2307.10829): DDIM integrated both ways, exactly invertible
//
// edict and bdia run the DDIM update of the model's DDIMScheduler config (betas, spacing,
// prediction type, set_alpha_to_one) without clip_sample or thresholding, which no exact inverse
// can undo; their latents files carry a companion state (see latents_keys).

#include <cstdint>
#include <string>
#include <vector>

#include "ddim/export.h"

namespace ddim {

enum class InverseScheduler {
  kDDIM,      // DDIMInverseScheduler, back with DDIMScheduler
  kDPMSolver  // DPMSolverMultistepInverseScheduler, back with DPMSolverMultistepScheduler
};

// The diffusers classes of a pair: e.g. "DDIMInverseScheduler" and "DDIMScheduler".
DDIM_API const char* inverse_class_name(InverseScheduler kind);
DDIM_API const char* forward_class_name(InverseScheduler kind);

struct DDIM_API InversionMethod {
  enum class Kind { kDDIM, kDPMSolver, kFixedPoint, kEDICT, kBDIA };

  Kind kind = Kind::kDDIM;
  // fixed-point: the scheduler pair whose inverse step is iterated.
  InverseScheduler scheduler = InverseScheduler::kDDIM;
  // fixed-point: at most this many refinements per step (>= 1), each one UNet call.
  int64_t iterations = 5;
  // fixed-point: a step stops refining once the RMS change of its result, relative to the
  // result's RMS, is at most this for every image (>= 0; 0 always runs all iterations).
  double tolerance = 1e-5;
  // EDICT's mixing weight p, in (0, 1); the paper's 0.93.
  double edict_p = 0.93;
  // BDIA's gamma, in (0, 1]: 1 integrates both ways fully (the authors' editing default; the
  // inverse divides by gamma at every step, so smaller values amplify rounding).
  double bdia_gamma = 1.0;

  // The named methods with default parameters; from_name("fixed-point") iterates the DDIM pair.
  // Throws UsageError naming the text for any other name.
  static InversionMethod from_name(const std::string& name);
  // "ddim", "dpmsolver", "fixed-point", "edict" or "bdia".
  std::string name() const;
  // Throws UsageError naming the parameter and value that is out of range.
  void validate() const;
  // The scheduler pair the method runs: fixed-point's `scheduler`, kDDIM for edict and bdia.
  InverseScheduler scheduler_pair() const;
  // The names in a latents file of this method: "latents" first, then edict's "edict_y" and
  // "edict_p" or bdia's "bdia_next" and "bdia_gamma" (the parameter as a 0-dim float64 tensor),
  // and for both "num_inference_steps" (0-dim int64): the schedule the companion belongs to.
  std::vector<std::string> latents_keys() const;
};

}  // namespace ddim
