#include "pipelines/denoising_loop.h"

#include "ddim/errors.h"

namespace ddim::detail {

LoopResult denoising_loop(Scheduler& scheduler, UNet& unet, torch::Tensor sample, int64_t num_inference_steps,
                          const StepOptions& step_options, const StepCallback& callback) {
  c10::InferenceMode guard;
  scheduler.set_timesteps(num_inference_steps, unet.device());
  // The schedule on the host: the loop reads it without touching the device.
  const auto timesteps = scheduler.timesteps().cpu();
  const auto* ts = timesteps.data_ptr<int64_t>();
  const int total = static_cast<int>(timesteps.numel());
  LoopResult result;
  // The first step whose sample is not finite, kept on the sample's device (-1: none yet), so
  // that the loop makes no host sync for it; read once at the end.
  auto first_bad = torch::full({}, -1, torch::dtype(torch::kInt64).device(sample.device()));
  for (int i = 0; i < total; ++i) {
    const auto model_input = scheduler.scale_model_input(sample, ts[i]);
    const auto model_output = unet.forward(model_input, ts[i]).to(sample.scalar_type());
    sample = scheduler.step(model_output, ts[i], sample, step_options).prev_sample;
    first_bad = torch::where((first_bad < 0).logical_and(torch::isfinite(sample).all().logical_not()),
                             at::Scalar(static_cast<int64_t>(i)), first_bad);
    result.steps_done = i + 1;
    if (callback && !callback(i + 1, total, sample)) {
      result.cancelled = true;
      break;
    }
  }
  if (const int64_t bad = first_bad.item<int64_t>(); bad >= 0) {
    throw SchedulerError("the sample became non-finite (NaN or inf) at step " + std::to_string(bad + 1) + " of " +
                         std::to_string(total) + " (timestep " + std::to_string(ts[bad]) +
                         "): the model output or the scheduler config gives NaN there");
  }
  result.sample = sample;
  return result;
}

torch::ScalarType latent_dtype(const UNet& unet) { return torch::promote_types(torch::kFloat32, unet.dtype()); }

torch::Tensor decode_images(const torch::Tensor& sample) {
  return (sample / 2 + 0.5).clamp(0, 1).to(torch::kCPU, torch::kFloat32).permute({0, 2, 3, 1}).contiguous();
}

}  // namespace ddim::detail
