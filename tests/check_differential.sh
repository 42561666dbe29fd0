#!/usr/bin/env bash
# Usage: check_differential.sh PYTHON SOURCE_DIR PARITY_TEST [CASES [SEED]]
# The seeded randomized differential test: scripts/random_differential.py draws CASES scheduler
# configs (300 by default) and runs them in the pinned diffusers; test_scheduler_parity replays
# them: every trajectory diffusers runs must match, everything it cannot run must be refused.
set -euo pipefail
python="$1"; src="$2"; parity="$3"; cases="${4:-300}"; seed="${5:-1}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$python" "$src/scripts/random_differential.py" --cases "$cases" --seed "$seed" --out "$out" 2>"$out/log" \
  || { cat "$out/log"; exit 1; }
DDIM_GOLDEN_DIR="$out" "$parity" \
  --gtest_filter='SchedulerParity.TrajectoriesMatchDiffusersOnCpu:SchedulerParity.RefusesWhatDiffusersCannotRun'
