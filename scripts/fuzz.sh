#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz) with clang, ASan and UBSan into build-fuzz/, then runs
# each for a while from its seed corpus.
#   scripts/fuzz.sh                      every harness, 30 seconds each
#   scripts/fuzz.sh --seconds 600        longer runs
#   scripts/fuzz.sh --runs 1000000       each harness until it has run this many inputs
#   scripts/fuzz.sh fuzz_image ...       some harnesses only
# New inputs that add coverage are kept in build-fuzz/corpus/<harness>/; an input that crashes
# (sanitizer report, abort on an escaped non-ddim exception, timeout, memory limit) is saved in
# build-fuzz/artifacts/<harness>/ and the script exits non-zero with the command that replays it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds=30
runs_limit=0
harnesses=()
while (($#)); do
  case "$1" in
    --seconds)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --seconds needs a positive integer, got '${2:-}'" >&2; exit 2; }
      seconds="$2"; shift ;;
    --runs)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --runs needs a positive integer, got '${2:-}'" >&2; exit 2; }
      runs_limit="$2"; seconds=0; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    fuzz_*) harnesses+=("$1") ;;
    *) echo "fuzz.sh: unknown argument '$1' (use --seconds N, --runs N and harness names fuzz_*)" >&2; exit 2 ;;
  esac
  shift
done
all=(fuzz_scheduler_config fuzz_image fuzz_latents fuzz_output_pattern fuzz_tokenizer_files fuzz_prompt fuzz_embeds
     fuzz_sidecar)
((${#harnesses[@]})) || harnesses=("${all[@]}")
for h in "${harnesses[@]}"; do
  [ -d "tests/fuzz/corpus/$h" ] || { echo "fuzz.sh: no harness '$h' (have: ${all[*]})" >&2; exit 2; }
done
# clang and its libFuzzer runtime (Debian: clang, libclang-rt-<version>-dev).
fuzzer_runtime() { [ -n "$(clang++ -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null | grep /)" ] &&
                   [ -f "$(clang++ -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]; }
if ! command -v clang++ >/dev/null || ! fuzzer_runtime; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  echo "fuzz.sh: installing clang and its libFuzzer runtime (Debian packages)" >&2
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang >/dev/null
  version="$(clang++ -dumpversion | cut -d. -f1)"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "libclang-rt-$version-dev" >/dev/null
  fuzzer_runtime || { echo "fuzz.sh: no libFuzzer runtime for $(clang++ --version | head -1)" >&2; exit 1; }
fi

build_dir=build-fuzz
DDIM_TARGETS=all DDIM_BUILD_DIR="$build_dir" DDIM_BUILD_TYPE=RelWithDebInfo DDIM_SANITIZE=address,undefined DDIM_NO_AOTI=1 \
  DDIM_CMAKE_ARGS="-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DBUILD_SHARED_LIBS=OFF
                   -DDDIM_BUILD_FUZZERS=ON -DDDIM_BUILD_TESTS=OFF -DDDIM_BUILD_BENCHMARKS=OFF" \
  scripts/setup.sh

# LibTorch is not instrumented: its one-time allocations at exit are not leaks of ours, and its
# operator new/delete pairs cross the instrumented boundary.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:alloc_dealloc_mismatch=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export OMP_NUM_THREADS=1
failed=()
for h in "${harnesses[@]}"; do
  corpus="$build_dir/corpus/$h"; artifacts="$build_dir/artifacts/$h"
  mkdir -p "$corpus" "$artifacts"
  log="$build_dir/fuzz-$h.log"
  if ((runs_limit)); then
    echo "fuzz.sh: $h for $runs_limit runs (log: $log)"
  else
    echo "fuzz.sh: $h for ${seconds}s (log: $log)"
  fi
  if "$build_dir/fuzz/$h" -max_total_time="$seconds" -runs="$((runs_limit ? runs_limit : -1))" -timeout=20 -rss_limit_mb=4096 -malloc_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "tests/fuzz/corpus/$h" >"$log" 2>&1; then
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1)"
    echo "fuzz.sh: $h: ${runs:-?} runs, $cov, corpus $(find "$corpus" -type f | wc -l) files, no finding"
  else
    failed+=("$h")
    grep -E "ERROR|ddim fuzz finding|runtime error|Test unit written" "$log" | head -5 >&2 || true
    artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
    echo "fuzz.sh: $h: FINDING; replay: $build_dir/fuzz/$h ${artifact:-<artifact>}" >&2
  fi
done
((${#failed[@]} == 0)) || { echo "fuzz.sh: findings in ${failed[*]}" >&2; exit 1; }
