#include "pipelines/edict.h"

#include "pipelines/non_finite_watch.h"

namespace ddim::detail {
Inversion EDICT::invert(UNet& unet, const torch::Tensor& x0, int64_t steps, const StepCallback& callback) const {
  const DDIMTransfers ddim(scheduler_, steps);
  const int total = static_cast<int>(ddim.size());
  NonFiniteWatch watch(x0.device());
  std::vector<int64_t> timesteps;
  torch::Tensor x = x0, y = x0;
  Inversion result;
  for (int64_t k = ddim.size() - 1; k >= 0; --k) {
    const auto& a = ddim.down(k);
    const int64_t t = ddim.timestep(k);
    timesteps.push_back(t);
    const auto y_i = (y - x * (1 - p_)) / p_;
    const auto x_i = (x - y_i * (1 - p_)) / p_;
    y = a.undo(y_i, model_output(unet, x_i, t));
    x = a.undo(x_i, model_output(unet, y, t));
    result.unet_calls += 2;
    watch.check(static_cast<int64_t>(timesteps.size()) - 1, x + y);
    if (callback && !callback(static_cast<int>(timesteps.size()), total, x)) {
      result.cancelled = true;
      return result;
    }
  }
  watch.raise_if_seen(timesteps, "EDICT's inversion");
  result.latents = {{"latents", x}, {"edict_y", y}, {"edict_p", torch::tensor(p_, torch::kFloat64)}};
  return result;
}

LoopResult EDICT::generate(UNet& unet, const NamedTensors& state, int64_t steps, const StepCallback& callback) const {
  const DDIMTransfers ddim(scheduler_, steps);
  const int total = static_cast<int>(ddim.size());
  torch::Tensor x = state.at("latents");
  torch::Tensor y = state.count("edict_y") ? state.at("edict_y") : x;
  NonFiniteWatch watch(x.device());
  std::vector<int64_t> timesteps;
  LoopResult result;
  for (int64_t k = 0; k < ddim.size(); ++k) {
    const auto& a = ddim.down(k);
    const int64_t t = ddim.timestep(k);
    timesteps.push_back(t);
    const auto x_i = a.apply(x, model_output(unet, y, t));
    const auto y_i = a.apply(y, model_output(unet, x_i, t));
    x = x_i * p_ + y_i * (1 - p_);
    y = y_i * p_ + x * (1 - p_);
    result.unet_calls += 2;
    result.steps_done = static_cast<int>(k + 1);
    watch.check(k, x + y);
    if (callback && !callback(static_cast<int>(k + 1), total, x)) {
      result.cancelled = true;
      return result;
    }
  }
  watch.raise_if_seen(timesteps, "EDICT's sample");
  result.sample = x;
  return result;
}

}  // namespace ddim::detail
