#include "pipelines/denoising_loop.h"

#include "ddim/errors.h"
#include "pipelines/non_finite_watch.h"

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
  NonFiniteWatch watch(sample.device());
  for (int i = 0; i < total; ++i) {
    const auto model_input = scheduler.scale_model_input(sample, ts[i]);
    sample = scheduler.step(model_output(unet, model_input, ts[i]), ts[i], sample, step_options).prev_sample;
    watch.check(i, sample);
    result.steps_done = i + 1;
    ++result.unet_calls;
    if (callback && !callback(i + 1, total, sample)) {
      result.cancelled = true;
      break;
    }
  }
  watch.raise_if_seen(std::vector<int64_t>(ts, ts + total));
  result.sample = sample;
  return result;
}

torch::Tensor model_output(UNet& unet, const torch::Tensor& sample, int64_t timestep) {
  return unet.forward(sample, timestep).to(sample.scalar_type());
}

torch::ScalarType latent_dtype(const UNet& unet) { return torch::promote_types(torch::kFloat32, unet.dtype()); }

torch::Tensor decode_images(const torch::Tensor& sample) {
  return (sample / 2 + 0.5).clamp(0, 1).to(torch::kCPU, torch::kFloat32).permute({0, 2, 3, 1}).contiguous();
}

torch::Tensor decode_images(const torch::Tensor& sample, VAE* vae) {
  return decode_images(vae ? vae->decode(sample / vae->config().scaling_factor) : sample);
}

}  // namespace ddim::detail
