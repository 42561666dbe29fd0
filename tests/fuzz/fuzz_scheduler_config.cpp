// libFuzzer harness: scheduler configs. Input: byte 0 picks the class (its low 3 bits: one of the
// four, or the config's own _class_name) and DDIM's eta (its high 5 bits / 8), byte 1 the number
// of inference steps (1 to 256), the rest is scheduler_config.json text. The config is loaded,
// written back and reloaded (the same config), the schedule placed, and every step run on a small
// sample: each either completes with a finite sample or is refused with a ddim::Error, never a NaN
// or inf sample handed on.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ddim/schedulers/scheduler_factory.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const auto classes = ddim::scheduler_class_names();
  const size_t class_index = data[0] & 7u;
  const std::string class_name = class_index < classes.size() ? classes[class_index] : std::string();
  const double eta = static_cast<double>(data[0] >> 3) / 8.0;
  const int64_t steps = 1 + static_cast<int64_t>(data[1]);
  const std::string json(reinterpret_cast<const char*>(data + 2), size - 2);
  ddim::fuzz::expect_only_ddim_errors([&] {
    auto scheduler = ddim::scheduler_from_config(json, class_name);
    const std::string written = scheduler->config_json();
    if (ddim::scheduler_from_config(written, scheduler->class_name())->config_json() != written) {
      ddim::fuzz::finding("config does not survive a write and reload: " + written);
    }
    scheduler->set_timesteps(steps);
    torch::NoGradGuard no_grad;
    auto sample = torch::linspace(-1.5, 1.5, 8).reshape({1, 2, 2, 2});
    const auto noise = torch::linspace(1.0, -1.0, 8).reshape({1, 2, 2, 2});
    ddim::StepOptions options;
    if (scheduler->class_name() == "DDIMScheduler") options.eta = eta;
    options.variance_noise = noise;  // SDE variants and eta > 0 need noise; given, not drawn
    const auto timesteps = scheduler->timesteps().to(torch::kCPU);
    for (int64_t i = 0; i < timesteps.numel(); ++i) {
      const int64_t t = timesteps[i].item<int64_t>();
      const auto model_output = scheduler->scale_model_input(sample, t) * 0.5 + noise * 0.25;
      sample = scheduler->step(model_output, t, sample, options).prev_sample;
      if (!torch::isfinite(sample).all().item<bool>()) {
        ddim::fuzz::finding("step " + std::to_string(i) + " (timestep " + std::to_string(t) +
                            ") returned a non-finite sample for config " + written);
      }
    }
  });
  return 0;
}
