#!/usr/bin/env bash
# Usage: check_golden_current.sh PYTHON SOURCE_DIR
# The committed golden data is exactly what scripts/make_golden.py makes with the pinned diffusers.
set -euo pipefail
python="$1"; src="$2"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$python" "$src/scripts/make_golden.py" --out "$out" >"$out/log" 2>&1 || { cat "$out/log"; exit 1; }
head -n 1 "$out/log"
for f in golden.json golden.bin; do
  cmp "$out/$f" "$src/tests/data/schedulers/$f" || { echo "FAIL tests/data/schedulers/$f is stale: rerun scripts/make_golden.py"; exit 1; }
done
echo "golden data is current"
