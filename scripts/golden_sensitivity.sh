#!/usr/bin/env bash
# Which CPU-dependent component moves the last bits of the scheduler reference data on this machine:
# scripts/make_golden.py once as it is, then once per setting below, each compared byte for byte.
#   scripts/golden_sensitivity.sh [OUT]      (OUT: a scratch folder, default a temporary one)
# It first compares with the data last committed to git. About 1.5 minutes per run on one core.
# Settings for instruction sets the CPU lacks change nothing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${DDIM_PYTHON:-$root/.venv/bin/python}"
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
grep -m1 '^model name' /proc/cpuinfo || true
"$python" -c 'import numpy; numpy.show_runtime()' 2>/dev/null | grep -E "found|architecture" || true
settings=(
  "numpy_no_spr NPY_DISABLE_CPU_FEATURES=AVX512_SPR"
  "numpy_no_avx512 NPY_DISABLE_CPU_FEATURES=X86_V4 AVX512_ICL AVX512_SPR"
  "numpy_baseline NPY_DISABLE_CPU_FEATURES=X86_V3 X86_V4 AVX512_ICL AVX512_SPR"
  "libm_no_avx2_fma GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA,-FMA4,-AVX512F"
  "openblas_haswell OPENBLAS_CORETYPE=Haswell"
  "onednn_sse41 ONEDNN_MAX_CPU_ISA=SSE41"
  "mkl_avx2 MKL_ENABLE_INSTRUCTIONS=AVX2"
  "mkl_sse42 MKL_ENABLE_INSTRUCTIONS=SSE4_2"
  "mkl_compatible MKL_CBWR=COMPATIBLE"
)
"$python" "$root/scripts/make_golden.py" --out "$out/as_is" >"$out/as_is.log" 2>&1
# The data as last committed (4fc0a86^; the script has not changed what it computes since), which
# AMD EPYCs with AVX2 only (Zen 1) and with AVX-512 (Zen 4) reproduce byte for byte.
if git -C "$root" cat-file -e 4fc0a86^:tests/data/schedulers/golden.bin 2>/dev/null; then
  mkdir -p "$out/committed"
  git -C "$root" show 4fc0a86^:tests/data/schedulers/golden.bin >"$out/committed/golden.bin"
  git -C "$root" show 4fc0a86^:tests/data/schedulers/golden.json >"$out/committed/golden.json"
  printf '%-18s %-60s golden.bin %8s bytes differ, golden.json %8s\n' committed "(git 4fc0a86^)" \
    "$(cmp -l "$out/as_is/golden.bin" "$out/committed/golden.bin" | wc -l)" \
    "$(cmp -l "$out/as_is/golden.json" "$out/committed/golden.json" | wc -l)"
fi
for setting in "${settings[@]}"; do
  name="${setting%% *}"; assignment="${setting#* }"
  env "$assignment" "$python" "$root/scripts/make_golden.py" --out "$out/$name" >"$out/$name.log" 2>&1
  bin="$(cmp -l "$out/as_is/golden.bin" "$out/$name/golden.bin" | wc -l)"
  json="$(cmp -l "$out/as_is/golden.json" "$out/$name/golden.json" | wc -l)"
  printf '%-18s %-60s golden.bin %8s bytes differ, golden.json %8s\n' "$name" "$assignment" "$bin" "$json"
done
