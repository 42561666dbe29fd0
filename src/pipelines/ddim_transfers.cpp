#include "pipelines/ddim_transfers.h"

#include <cmath>
#include <sstream>
#include <string>

#include "ddim/errors.h"

namespace ddim::detail {
namespace {

// x_b from x_a and m: x0 and eps as DDIMScheduler.step derives them for each prediction type,
// recombined at level b (its "x0 * sqrt(alpha_prod_t_prev) + direction" with eta = 0).
Affine transfer(double alpha_a, double alpha_b, PredictionType type) {
  const double sa = std::sqrt(alpha_a), na = std::sqrt(1 - alpha_a);
  const double sb = std::sqrt(alpha_b), nb = std::sqrt(1 - alpha_b);
  switch (type) {
    case PredictionType::kEpsilon:  // x0 = (x - na m) / sa, eps = m
      return {sb / sa, nb - sb * na / sa};
    case PredictionType::kSample:  // x0 = m, eps = (x - sa m) / na
      return {nb / na, sb - nb * sa / na};
    case PredictionType::kVPrediction:  // x0 = sa x - na m, eps = sa m + na x
      return {sb * sa + nb * na, nb * sa - sb * na};
    case PredictionType::kFlowPrediction:  // DDIMScheduler's config refuses it
      break;
  }
  return {NAN, NAN};
}

}  // namespace

DDIMTransfers::DDIMTransfers(const DDIMScheduler& scheduler, int64_t num_inference_steps) {
  const auto& config = scheduler.config();
  auto schedule = scheduler.clone();
  schedule->set_timesteps(num_inference_steps);
  const auto ts = schedule->timesteps().cpu();
  timesteps_.assign(ts.data_ptr<int64_t>(), ts.data_ptr<int64_t>() + ts.numel());
  const auto acp = scheduler.alphas_cumprod().to(torch::kFloat64).contiguous();
  const double* alphas = acp.data_ptr<double>();
  const double final_alpha = config.set_alpha_to_one ? 1.0 : alphas[0];
  const int64_t ratio = config.num_train_timesteps / num_inference_steps;
  const auto level = [&](int64_t t) { return t >= 0 ? alphas[t] : final_alpha; };
  for (size_t k = 0; k < timesteps_.size(); ++k) {
    down_.push_back(transfer(level(timesteps_[k]), level(timesteps_[k] - ratio), config.prediction_type));
    up_.push_back(k == 0 ? Affine{} : transfer(level(timesteps_[k]), level(timesteps_[k - 1]), config.prediction_type));
    const double to = level(timesteps_[k] - ratio);
    for (const auto& a : {down_.back(), up_.back()}) {
      if (!std::isfinite(a.cx) || !std::isfinite(a.cm) || a.cx == 0) {
        std::ostringstream what;
        what << "the DDIM update at step " << k + 1 << " of " << timesteps_.size() << " (timestep " << timesteps_[k]
             << ", alphas_cumprod " << level(timesteps_[k]) << " -> " << to
             << ") cannot be inverted: the sample's weight in it is " << a.cx << " for prediction_type "
             << ddim::to_string(config.prediction_type);
        throw SchedulerError(what.str());
      }
    }
  }
}

}  // namespace ddim::detail
