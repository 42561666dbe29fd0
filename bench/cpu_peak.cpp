// How many FLOP/s these cores do at most, measured: independent fp32 FMAs (AVX-512 or AVX2+FMA) and
// AVX512-BF16 dot products (vdpbf16ps) on every thread at once, 12 accumulators per thread so that
// no instruction waits for another. bench/unet_vs_peers.py and bench/latent_vs_diffusers.py take
// their fractions of peak from it: a table of FLOPs per cycle times /proc/cpuinfo's clock misses
// both the clock a virtual machine's cores really run at and how wide a core's datapath is (AMD's
// Zen 4 runs AVX-512 on 256 bits). AMX is not measured (its peak stays the table's).
//
//   cpu_peak [--threads N]      prints one JSON line:
//   {"threads": N, "fp32_isa": "avx512f", "fp32_gflops": 234.1, "bf16_isa": "avx512_bf16", "bf16_gflops": 468.0}
//   (bf16 null where the CPU has no AVX512-BF16; the best of 3 timed runs of about 0.2 s each)
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kAccumulators = 12;

// Each kernel runs `iterations` rounds of kAccumulators independent multiply-adds and returns a sum
// of the accumulators, so that the compiler keeps the work. FLOPs per round are in kernel_flops().
__attribute__((target("avx512f"))) float fp32_avx512(long iterations) {
  __m512 acc[kAccumulators];
  for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm512_set1_ps(0.001f * static_cast<float>(k));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
  }
  __m512 sum = acc[0];
  for (int k = 1; k < kAccumulators; ++k) sum = _mm512_add_ps(sum, acc[k]);
  float lanes[16];
  _mm512_storeu_ps(lanes, sum);
  float total = 0;
  for (float lane : lanes) total += lane;
  return total;
}

__attribute__((target("avx2,fma"))) float fp32_avx2(long iterations) {
  __m256 acc[kAccumulators];
  for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm256_set1_ps(0.001f * static_cast<float>(k));
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm256_fmadd_ps(acc[k], a, b);
  }
  __m256 sum = acc[0];
  for (int k = 1; k < kAccumulators; ++k) sum = _mm256_add_ps(sum, acc[k]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  float total = 0;
  for (float lane : lanes) total += lane;
  return total;
}

__attribute__((target("avx512f,avx512bf16"))) float bf16_avx512(long iterations) {
  __m512 acc[kAccumulators];
  for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm512_set1_ps(0.001f * static_cast<float>(k));
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.999f), _mm512_set1_ps(0.5f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.001f), _mm512_set1_ps(0.002f));
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm512_dpbf16_ps(acc[k], a, b);
  }
  __m512 sum = acc[0];
  for (int k = 1; k < kAccumulators; ++k) sum = _mm512_add_ps(sum, acc[k]);
  float lanes[16];
  _mm512_storeu_ps(lanes, sum);
  float total = 0;
  for (float lane : lanes) total += lane;
  return total;
}

using Kernel = float (*)(long);

// Seconds for `threads` threads each running kernel(iterations), started together.
double timed(Kernel kernel, long iterations, int threads) {
  std::vector<std::thread> pool;
  std::vector<float> sinks(static_cast<std::size_t>(threads));
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { sinks[t] = kernel(iterations); });
  for (auto& thread : pool) thread.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  volatile float keep = sinks[0];
  (void)keep;
  return seconds;
}

// GFLOP/s of `threads` threads running the kernel, flops_per_round FLOPs per iteration each: the
// best of 3 runs sized to about 0.2 s after a calibration run.
double gflops(Kernel kernel, double flops_per_round, int threads) {
  long iterations = 1 << 20;
  double seconds = timed(kernel, iterations, threads);
  iterations = std::max(1L, static_cast<long>(static_cast<double>(iterations) * 0.2 / std::max(seconds, 1e-6)));
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    seconds = timed(kernel, iterations, threads);
    best = std::max(best, flops_per_round * static_cast<double>(iterations) * threads / seconds / 1e9);
  }
  return best;
}

int usage(const char* why) {
  std::fprintf(stderr, "cpu_peak: %s\nusage: cpu_peak [--threads N]\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      char* end = nullptr;
      const long n = std::strtol(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0' || n < 1 || n > 4096) {
        return usage((std::string("--threads ") + argv[i] + ": not a count from 1 to 4096").c_str());
      }
      threads = static_cast<int>(n);
    } else {
      return usage((std::string("unknown argument ") + argv[i]).c_str());
    }
  }
  __builtin_cpu_init();
  std::string fp32_isa = "none", bf16_isa;
  double fp32 = 0, bf16 = 0;
  if (__builtin_cpu_supports("avx512f")) {
    fp32_isa = "avx512f";
    fp32 = gflops(fp32_avx512, kAccumulators * 16 * 2, threads);
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    fp32_isa = "avx2 fma";
    fp32 = gflops(fp32_avx2, kAccumulators * 8 * 2, threads);
  }
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16")) {
    bf16_isa = "avx512_bf16";
    // Each vdpbf16ps: 16 lanes, two bf16 products added into each: 64 FLOPs.
    bf16 = gflops(bf16_avx512, kAccumulators * 16 * 2 * 2, threads);
  }
  std::printf("{\"threads\": %d, \"fp32_isa\": \"%s\", \"fp32_gflops\": %.1f, ", threads, fp32_isa.c_str(), fp32);
  if (bf16_isa.empty()) {
    std::printf("\"bf16_isa\": null, \"bf16_gflops\": null}\n");
  } else {
    std::printf("\"bf16_isa\": \"%s\", \"bf16_gflops\": %.1f}\n", bf16_isa.c_str(), bf16);
  }
  return fp32_isa == "none" ? 1 : 0;
}
