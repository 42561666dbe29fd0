#!/usr/bin/env bash
# Usage: make_golden_fixture.sh PYTHON SOURCE_DIR OUT
# The scheduler reference data, made here by the pinned diffusers for the tests that compare with
# it: its last bits depend on the CPU (LibTorch's and numpy's kernels, glibc's libm), so it is never
# committed from another machine. Written into a temporary folder and moved into place whole.
set -euo pipefail
python="$1"; src="$2"; out="$3"
tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
"$python" "$src/scripts/make_golden.py" --out "$tmp" >"$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
head -n 1 "$tmp/log"
# Where torch sees a GPU, the CUDA parity test's reference, made on it.
if "$python" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  "$python" "$src/scripts/make_golden.py" --device cuda --out "$tmp/cuda" >"$tmp/log.cuda" 2>&1 ||
    { cat "$tmp/log.cuda"; exit 1; }
  head -n 1 "$tmp/log.cuda" | sed 's/^/cuda: /'
fi
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
grep -c '"name"' "$out/golden.json" | sed 's/^/cases: /'
