// TorchScript UNet forward time, loaded as ddim loads it, frozen, and frozen + optimize_for_inference.
//   build/bin/bench_unet --model=build/tests/tiny/model [--batch=4]
// Decides whether load-time freezing is worth it (see the README).
#include <benchmark/benchmark.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

std::string g_model = "build/tests/tiny/model";
int64_t g_batch = 4;

enum class Variant { kPlain, kFrozen, kOptimized };

void BM_Forward(benchmark::State& state, Variant variant) {
  c10::InferenceMode guard;
  auto module = torch::jit::load(g_model + "/unet/model.pt");
  module.eval();
  if (variant == Variant::kFrozen) module = torch::jit::freeze(module);
  if (variant == Variant::kOptimized) module = torch::jit::optimize_for_inference(module);
  const auto x = torch::randn({g_batch, 3, 16, 16});
  const auto t = torch::full({g_batch}, 500, torch::kInt64);
  for (int i = 0; i < 5; ++i) module.forward({x, t});  // the profiling executor settles first
  for (auto _ : state) benchmark::DoNotOptimize(module.forward({x, t}).toTensor());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--model=", 8) == 0) {
      g_model = argv[i] + 8;
    } else if (std::strncmp(argv[i], "--batch=", 8) == 0) {
      g_batch = std::stoll(argv[i] + 8);
    } else {
      args.push_back(argv[i]);
    }
  }
  benchmark::RegisterBenchmark("UNet/plain", BM_Forward, Variant::kPlain)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("UNet/frozen", BM_Forward, Variant::kFrozen)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("UNet/frozen+optimize_for_inference", BM_Forward, Variant::kOptimized)
      ->Unit(benchmark::kMicrosecond);
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
