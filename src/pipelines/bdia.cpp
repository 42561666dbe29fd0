#include "pipelines/bdia.h"

#include "ddim/errors.h"
#include "pipelines/non_finite_watch.h"

namespace ddim::detail {
torch::Tensor BDIA::increment(const DDIMTransfers& ddim, int64_t k, const torch::Tensor& z,
                              const torch::Tensor& m) const {
  // Computed the same way in both directions, so that sampling subtracts what inversion added.
  return ddim.down(k).apply(z, m) - ddim.up(k).apply(z, m) * gamma_;
}

Inversion BDIA::invert(UNet& unet, const torch::Tensor& x0, int64_t steps, const StepCallback& callback) const {
  if (steps < 2) throw UsageError("BDIA inversion needs at least 2 steps, got " + std::to_string(steps));
  const DDIMTransfers ddim(scheduler_, steps);
  const int64_t n = ddim.size();
  NonFiniteWatch watch(x0.device());
  std::vector<int64_t> timesteps = {ddim.timestep(n - 1)};
  Inversion result;
  // z_{k+1} is sampling's state after step k: z_n = x0, and z_{n-1} by DDIM inversion of the last step.
  torch::Tensor later = x0;
  torch::Tensor z = ddim.down(n - 1).undo(x0, model_output(unet, x0, ddim.timestep(n - 1)));
  result.unet_calls = 1;
  watch.check(0, z);
  if (callback && !callback(1, static_cast<int>(n), z)) {
    result.cancelled = true;
    return result;
  }
  for (int64_t k = n - 1; k >= 1; --k) {
    const int64_t t = ddim.timestep(k);
    timesteps.push_back(t);
    const auto earlier = (later - increment(ddim, k, z, model_output(unet, z, t))) / gamma_;
    later = z;
    z = earlier;
    ++result.unet_calls;
    watch.check(static_cast<int64_t>(timesteps.size()) - 1, z);
    if (callback && !callback(static_cast<int>(timesteps.size()), static_cast<int>(n), z)) {
      result.cancelled = true;
      return result;
    }
  }
  watch.raise_if_seen(timesteps, "BDIA's inversion");
  result.latents = {{"latents", z}, {"bdia_next", later}, {"bdia_gamma", torch::tensor(gamma_, torch::kFloat64)}};
  return result;
}

LoopResult BDIA::generate(UNet& unet, const NamedTensors& state, int64_t steps, const StepCallback& callback) const {
  const DDIMTransfers ddim(scheduler_, steps);
  const int64_t n = ddim.size();
  NonFiniteWatch watch(state.at("latents").device());
  std::vector<int64_t> timesteps = {ddim.timestep(0)};
  LoopResult result;
  torch::Tensor earlier = state.at("latents"), z;
  if (state.count("bdia_next")) {
    z = state.at("bdia_next");
  } else {
    z = ddim.down(0).apply(earlier, model_output(unet, earlier, ddim.timestep(0)));
    result.unet_calls = 1;
  }
  result.steps_done = 1;
  watch.check(0, z);
  if (callback && !callback(1, static_cast<int>(n), z)) {
    result.cancelled = true;
    return result;
  }
  for (int64_t k = 1; k < n; ++k) {
    const int64_t t = ddim.timestep(k);
    timesteps.push_back(t);
    const auto later = earlier * gamma_ + increment(ddim, k, z, model_output(unet, z, t));
    earlier = z;
    z = later;
    ++result.unet_calls;
    result.steps_done = static_cast<int>(k + 1);
    watch.check(k, z);
    if (callback && !callback(static_cast<int>(k + 1), static_cast<int>(n), z)) {
      result.cancelled = true;
      return result;
    }
  }
  watch.raise_if_seen(timesteps, "BDIA's sample");
  result.sample = z;
  return result;
}

}  // namespace ddim::detail
