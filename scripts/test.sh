#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every test with CTest.
#   scripts/test.sh                 the Release build in build/
#   scripts/test.sh --sanitize      an AddressSanitizer + UBSan build in build-sanitize/
# Extra arguments after -- go to ctest (e.g. -- -R Scheduler).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

ctest_args=()
while (($#)); do
  case "$1" in
    --sanitize)
      export DDIM_SANITIZE="${DDIM_SANITIZE:-address,undefined}"
      export DDIM_BUILD_DIR="${DDIM_BUILD_DIR:-build-sanitize}"
      export DDIM_BUILD_TYPE="${DDIM_BUILD_TYPE:-RelWithDebInfo}"
      # LibTorch is not built with ASan: skip its one-time allocations at exit and its
      # new/delete pairing across the instrumented boundary.
      export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:alloc_dealloc_mismatch=0}"
      export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
      ;;
    --) shift; ctest_args+=("$@"); break ;;
    *) echo "test.sh: unknown argument '$1' (use --sanitize, or -- CTEST_ARGS)" >&2; exit 2 ;;
  esac
  shift
done

DDIM_TARGETS=all scripts/setup.sh
build_dir="${DDIM_BUILD_DIR:-build}"
# The ctest that belongs to the cmake which configured the build.
cmake_cmd="$(sed -n 's/^CMAKE_COMMAND:INTERNAL=//p' "$build_dir/CMakeCache.txt")"
ctest_bin="$(dirname "$cmake_cmd")/ctest"
"$ctest_bin" --test-dir "$build_dir" --output-on-failure --parallel "$(nproc)" "${ctest_args[@]}"
