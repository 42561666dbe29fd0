// VAE::decode per backend and batch size on a latent model folder, as the pipelines run it after the
// last step (a VQModel quantizes first, as VQModel.decode does).
//   build/bin/bench_vae --model=DIR [--batches=1,4] [--backends=aoti,torchscript]
// One iteration is one decode() of a batch of seeded random latents of the exported size.
// bench/latent_vs_diffusers.py runs it beside diffusers' VQModel/AutoencoderKL decode.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench_flags.h"
#include "ddim/ddim.h"

namespace {

std::string g_model;
std::vector<int64_t> g_batches = {1, 4};

std::unique_ptr<ddim::VAE> load(const std::string& backend) {
  if (backend == "aoti") return std::make_unique<ddim::AOTInductorVAE>(g_model, torch::kCPU);
  return std::make_unique<ddim::TorchScriptVAE>(g_model, torch::kCPU);
}

void BM_Decode(benchmark::State& state, const std::string& backend, int64_t batch) {
  const auto vae = load(backend);
  const auto& config = vae->config();
  torch::manual_seed(0);
  const auto latents = torch::randn({batch, config.latent_channels, config.latent_height(), config.latent_width()});
  vae->decode(latents);  // warm-up: first-call allocations, TorchScript profiling
  for (auto _ : state) benchmark::DoNotOptimize(vae->decode(latents));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  std::vector<std::string> backends = {"aoti", "torchscript"};
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--model=", 0) == 0) {
      g_model = arg.substr(8);
    } else if (arg.rfind("--batches=", 0) == 0) {
      g_batches = bench::parse_batches(arg.substr(10));
    } else if (arg.rfind("--backends=", 0) == 0) {
      backends = bench::split_list(arg.substr(11));
    } else {
      args.push_back(argv[i]);
    }
  }
  if (g_model.empty()) {
    std::fprintf(stderr, "bench_vae: --model=DIR is required (a latent model folder)\n");
    return 2;
  }
  for (const auto& backend : backends) {
    for (const auto batch : g_batches) {
      benchmark::RegisterBenchmark(("decode/" + backend + "/batch:" + std::to_string(batch)).c_str(), BM_Decode,
                                   backend, batch)
          ->Unit(benchmark::kMillisecond);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
