// DDIMPipeline::generate per backend and batch size on one model folder, as the tools run it.
//   build/bin/bench_unet --model=models/digits [--batches=1,16] [--steps=10] [--dtype=float32]
//                        [--guidance=G] [--warmup=2]
// One iteration is one generate() of --steps steps (noise, every UNet call and scheduler step,
// decoding). bench/pipeline_vs_diffusers.py runs it beside diffusers' DDIMPipeline and reports ratios.
// With --guidance=G (G > 1) on a class-conditional model, each batch B runs twice: guided/ (CFG at
// G, one UNet call on 2B rows per step) and conditional/ at batch 2B (guidance 1): the cost of a
// guided step against a plain one of the same rows.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench_flags.h"
#include "ddim/ddim.h"

namespace {

std::string g_model = "models/digits";
std::vector<int64_t> g_batches = {1, 16};
int64_t g_steps = 10;
std::string g_dtype = "float32";
double g_guidance = 0;  // > 1: the guided/conditional pair per batch
int g_warmup = 2;        // untimed generate() calls first

std::shared_ptr<ddim::UNet> load(const std::string& backend) {
  const auto dtype = ddim::dtype_from_name(g_dtype);
  if (backend == "aoti") return std::make_shared<ddim::AOTInductorUNet>(g_model, torch::kCPU, dtype);
  return std::make_shared<ddim::TorchScriptUNet>(g_model, torch::kCPU, dtype);
}

void BM_Generate(benchmark::State& state, const std::string& backend, int64_t batch, double guidance) {
  ddim::DDIMPipeline pipe(load(backend), ddim::read_scheduler_config(g_model));
  ddim::GenerateOptions options;
  options.batch_size = batch;
  options.num_inference_steps = g_steps;
  options.seed = 0;
  if (pipe.unet().config().takes_class_labels()) {
    options.guidance.condition.class_labels = torch::zeros({1}, torch::kLong);
    options.guidance.guidance_scale = guidance;
  }
  for (int i = 0; i < g_warmup; ++i) pipe.generate(options);  // first-call allocations, TorchScript profiling
  for (auto _ : state) benchmark::DoNotOptimize(pipe.generate(options).images);
  state.counters["steps"] = static_cast<double>(g_steps);
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
    } else if (arg.rfind("--steps=", 0) == 0) {
      g_steps = std::stoll(arg.substr(8));
    } else if (arg.rfind("--dtype=", 0) == 0) {
      g_dtype = arg.substr(8);
    } else if (arg.rfind("--warmup=", 0) == 0) {
      g_warmup = std::stoi(arg.substr(9));
    } else if (arg.rfind("--guidance=", 0) == 0) {
      g_guidance = std::stod(arg.substr(11));
    } else if (arg.rfind("--backends=", 0) == 0) {
      backends = bench::split_list(arg.substr(11));
    } else {
      args.push_back(argv[i]);
    }
  }
  for (const auto& backend : backends) {
    for (const auto batch : g_batches) {
      if (g_guidance > 1) {
        benchmark::RegisterBenchmark(("guided/" + backend + "/batch:" + std::to_string(batch)).c_str(), BM_Generate,
                                     backend, batch, g_guidance)
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("conditional/" + backend + "/batch:" + std::to_string(2 * batch)).c_str(),
                                     BM_Generate, backend, 2 * batch, 1.0)
            ->Unit(benchmark::kMillisecond);
        continue;
      }
      benchmark::RegisterBenchmark(("generate/" + backend + "/batch:" + std::to_string(batch)).c_str(), BM_Generate,
                                   backend, batch, 1.0)
          ->Unit(benchmark::kMillisecond);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
