#include "pipelines/fixed_point_inversion.h"

#include <algorithm>

#include "pipelines/denoising_loop.h"
#include "pipelines/non_finite_watch.h"

namespace ddim::detail {
namespace {

// The largest, over the batch, RMS of (next - current) relative to the RMS of next.
double relative_change(const torch::Tensor& next, const torch::Tensor& current) {
  const auto change = (next - current).to(torch::kFloat64).pow(2).flatten(1).mean(1);
  const auto size = next.to(torch::kFloat64).pow(2).flatten(1).mean(1).clamp_min(1e-300);
  return (change / size).sqrt().max().item<double>();
}

}  // namespace

Inversion FixedPointInversion::invert(UNet& unet, const torch::Tensor& x0, int64_t steps,
                                      const StepCallback& callback) const {
  auto scheduler = inverse_.clone();
  scheduler->set_timesteps(steps, unet.device());
  const auto schedule = scheduler->timesteps().cpu();
  const std::vector<int64_t> timesteps(schedule.data_ptr<int64_t>(), schedule.data_ptr<int64_t>() + schedule.numel());
  const int total = static_cast<int>(timesteps.size());
  NonFiniteWatch watch(x0.device());
  Inversion result;
  torch::Tensor x = x0;
  for (int i = 0; i < total; ++i) {
    const int64_t t = timesteps[static_cast<size_t>(i)];
    const auto before = scheduler->clone();
    const auto model = [&](const torch::Tensor& at) {
      ++result.unet_calls;
      return model_output(unet, scheduler->scale_model_input(at, t), t);
    };
    auto next = scheduler->step(model(x), t, x).prev_sample;
    for (int64_t j = 0; j < iterations_; ++j) {
      auto trial = before->clone();
      auto refined = trial->step(model(next), t, x).prev_sample;
      const bool settled = tolerance_ > 0 && relative_change(refined, next) <= tolerance_;
      next = refined;
      scheduler = std::move(trial);
      if (settled) break;
    }
    x = next;
    watch.check(i, x);
    if (callback && !callback(i + 1, total, x)) {
      result.cancelled = true;
      return result;
    }
  }
  watch.raise_if_seen(timesteps, "the fixed-point inversion");
  result.latents = {{"latents", x}};
  return result;
}

}  // namespace ddim::detail
