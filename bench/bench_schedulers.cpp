// Scheduler step time: a 50-step sampling (or inversion) loop with a fixed model output, per step.
// bench/scheduler_vs_diffusers.py runs this next to diffusers and reports the ratios.
//   build/bin/bench_schedulers [--device=cuda] [--benchmark_filter=DDIM]
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstring>
#include <string>
#include <vector>

#include "ddim/ddim.h"

namespace {

constexpr int64_t kSteps = 50;
torch::Device g_device = torch::kCPU;

void BM_Step(benchmark::State& state, const std::string& cls, std::vector<int64_t> shape) {
  c10::InferenceMode guard;
  auto scheduler = ddim::scheduler_from_config("{\"_class_name\": \"" + cls + "\"}");
  const auto opts = torch::TensorOptions().device(g_device);
  const auto sample = torch::randn(shape, opts);
  const auto model_output = torch::randn(shape, opts) * 0.5;
  scheduler->set_timesteps(kSteps, g_device);
  const auto ts_tensor = scheduler->timesteps().cpu();
  const std::vector<int64_t> ts(ts_tensor.data_ptr<int64_t>(), ts_tensor.data_ptr<int64_t>() + ts_tensor.numel());
  for (auto _ : state) {
    state.PauseTiming();
    scheduler->set_timesteps(kSteps, g_device);
    auto x = sample;
    state.ResumeTiming();
    for (int64_t t : ts) x = scheduler->step(model_output, t, x).prev_sample;
    if (g_device.is_cuda()) torch::cuda::synchronize();
    benchmark::DoNotOptimize(x);
  }
  state.counters["us_per_step"] =
      benchmark::Counter(static_cast<double>(ts.size()) * 1e-6,
                         benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--device=cuda") == 0) {
      g_device = torch::Device(torch::kCUDA, 0);
    } else {
      args.push_back(argv[i]);
    }
  }
  const std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {{"1x3x32x32", {1, 3, 32, 32}},
                                                                            {"4x4x64x64", {4, 4, 64, 64}}};
  for (const auto& cls : ddim::scheduler_class_names()) {
    for (const auto& [name, shape] : shapes) {
      benchmark::RegisterBenchmark((cls + "/" + name).c_str(), BM_Step, cls, shape)->Unit(benchmark::kMicrosecond);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
