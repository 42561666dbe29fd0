#pragma once

// Tensor helpers shared by the schedulers, each mirroring the diffusers code named in its comment.

#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "ddim/schedulers/config_base.h"
#include "ddim/schedulers/scheduler.h"
#include "schedulers/foundation/step_formulas.h"

namespace ddim::detail {

// sqrt / exp / log of float32 values exactly as LibTorch computes them on float32 tensors (its
// kernels are not always correctly rounded, and diffusers' per-step scalars are float32 tensors):
// one vectorized op over the whole list, which gives the same bits as a 0-dim op per value.
std::vector<float> torch_sqrt(const std::vector<float>& values);
std::vector<float> torch_exp(const std::vector<float>& values);
std::vector<float> torch_log(const std::vector<float>& values);
float torch_sqrt(float value);

// What happens to DDIM's x0 prediction before it is used: dynamic thresholding, or clipping.
struct X0Processing {
  bool thresholding = false;
  double dynamic_thresholding_ratio = 0.995;
  double sample_max_value = 1.0;
  bool clip = false;
  float clip_range = 1.0F;
};

struct DDIMStepOutput {
  torch::Tensor prev_sample;
  torch::Tensor pred_original_sample;
};

// DDIMScheduler.step's tensor work (and DDIMInverseScheduler.step's, with no noise): one fused loop
// for contiguous float32 CPU tensors, ATen ops otherwise; the same roundings either way.
// noise (may be undefined) is added as noise * std_dev_t.
DDIMStepOutput ddim_step(const torch::Tensor& sample, const torch::Tensor& model_output, const DDIMScalars& scalars,
                         const X0Processing& processing, const torch::Tensor& noise, float std_dev_t);

// _threshold_sample: per-sample quantile of |x0|, computed in float32 for half types.
torch::Tensor threshold_sample(const torch::Tensor& sample, double ratio, double sample_max_value);

// diffusers randn_tensor(shape, generator, device, dtype): a CPU generator draws on the CPU, then
// the noise moves to `device`; a CUDA generator for a CPU tensor is an error; no generator draws
// from the device's default generator.
torch::Tensor randn_tensor(at::IntArrayRef shape, const std::optional<at::Generator>& generator, torch::Device device,
                           torch::ScalarType dtype, const std::string& owner);

// add_noise of the alphas_cumprod schedulers: sqrt(a_t) x0 + sqrt(1 - a_t) noise, in the samples' dtype.
torch::Tensor add_noise_alphas(const torch::Tensor& alphas_cumprod, const torch::Tensor& original_samples,
                               const torch::Tensor& noise, const torch::Tensor& timesteps);

// Throws ConfigError "<owner> config: key '<key>' has value <value>, expected <expected>".
[[noreturn]] void config_fail(const std::string& owner, const std::string& key, const std::string& value,
                              const std::string& expected);
// The most training timesteps a config may name: diffusers' models use at most a few thousand, and
// every table is this long, so a larger value is a mistake, not a model.
constexpr int64_t kMaxTrainTimesteps = 100000;

// Checks the keys of TrainScheduleConfig (num_train_timesteps in [2, kMaxTrainTimesteps],
// trained_betas length).
void check_train_config(const TrainScheduleConfig& config, const std::string& owner);
std::string format_double(double value);

// Throws SchedulerError when both generator and variance_noise are given.
void check_noise_options(const StepOptions& options, const std::string& owner);

}  // namespace ddim::detail
