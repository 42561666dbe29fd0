#pragma once

// The two groups of config keys the scheduler configs are built from: how the model was trained
// (every scheduler) and dynamic thresholding (DDIM and DPM-Solver). Names and defaults are
// diffusers'; each config struct lists its keys through visit_fields(v), which calls v(key, field)
// in diffusers' names (the config reader and writer are built on it).

#include <cstdint>
#include <optional>
#include <vector>

#include "ddim/schedulers/config_enums.h"

namespace ddim {

// The training noise schedule, shared by every scheduler.
struct TrainScheduleConfig {
  /// The number of diffusion steps the model was trained with. Default 1000.
  int64_t num_train_timesteps = 1000;
  /// The first beta of the training schedule. Default 0.0001.
  double beta_start = 0.0001;
  /// The last beta of the training schedule. Default 0.02.
  double beta_end = 0.02;
  /// How betas go from beta_start to beta_end: linear, scaled_linear or squaredcos_cap_v2. Default linear.
  BetaSchedule beta_schedule = BetaSchedule::kLinear;
  /// Betas given directly (length num_train_timesteps); beta_start, beta_end and beta_schedule are
  /// then ignored. Default unset (null).
  std::optional<std::vector<double>> trained_betas;

  template <class V>
  void visit_fields(V&& v) {
    v("num_train_timesteps", num_train_timesteps);
    v("beta_start", beta_start);
    v("beta_end", beta_end);
    v("beta_schedule", beta_schedule);
    v("trained_betas", trained_betas);
  }
};

// Dynamic thresholding of the x0 prediction (Imagen, arXiv:2205.11487): per sample, x0 is clipped
// to [-s, s] and divided by s, s being a quantile of |x0| clamped to [1, sample_max_value]. Not for
// latent-space models.
struct ThresholdingConfig {
  /// Whether to apply dynamic thresholding. Default false.
  bool thresholding = false;
  /// The quantile of |x0| that sets s; in (0, 1]. Used only with thresholding. Default 0.995.
  double dynamic_thresholding_ratio = 0.995;
  /// The largest s; used only with thresholding. Default 1.0.
  double sample_max_value = 1.0;

  template <class V>
  void visit_fields(V&& v) {
    v("thresholding", thresholding);
    v("dynamic_thresholding_ratio", dynamic_thresholding_ratio);
    v("sample_max_value", sample_max_value);
  }
};

}  // namespace ddim
