#!/usr/bin/env bash
# The one set-up step of ddim: system packages, the pinned Python environment (LibTorch and
# diffusers), and a Release build in build/ with the executables in build/bin/.
# Idempotent: a rerun on a set-up tree only re-checks and rebuilds what changed.
#
# Environment:
#   DDIM_PYTHON      use this Python (with torch installed) instead of creating .venv, e.g. on a
#                    machine that already has its own torch 2.x
#   DDIM_VENV_CACHE  where the environments keyed by requirements.txt live (~/.cache/ddim)
#   DDIM_BUILD_DIR   build folder (build)
#   DDIM_BUILD_TYPE  CMake build type (Release)
#   DDIM_SANITIZE    passed to -DDDIM_SANITIZE (e.g. address,undefined); needs its own build dir
#   DDIM_CMAKE_ARGS  extra arguments for the CMake configure step
#   DDIM_JOBS        parallel build jobs (number of cores)
#   DDIM_TARGETS     what to build: the library and the two tools by default
#                    ("ddim-generate ddim-invert"); "all" adds the tests and benchmarks
#                    (scripts/test.sh and scripts/fuzz.sh build everything)
#   DDIM_NO_AOTI     set to 1 to skip compiling the embedded model for this machine (step 4)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf 'setup: %s\n' "$*" >&2; }

# --- 1. Debian packages ------------------------------------------------------------------
apt_packages=(g++ make libcli11-dev libstb-dev nlohmann-json3-dev libgtest-dev libbenchmark-dev libboost-math-dev
              libpng-dev libjpeg62-turbo-dev libutf8proc-dev python3-venv)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- 2. Python environment ---------------------------------------------------------------
# The environment is keyed by a hash of requirements.txt and kept outside the clone, so a fresh
# clone on the same machine (CI) reuses it; .venv is a link to it.
if [ -n "${DDIM_PYTHON:-}" ]; then
  python="$DDIM_PYTHON"
  log "using DDIM_PYTHON=$python"
else
  req="$root/scripts/requirements.txt"
  key="$(sha256sum "$req" | cut -c1-16)"
  cache="${DDIM_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ddim}"
  venv="$cache/venv-$key"
  if [ ! -f "$venv/.complete" ]; then
    # No marker: absent or an interrupted install. Start it over; the marker is written last.
    log "creating Python environment $venv (pinned in scripts/requirements.txt; several GB on first run)"
    mkdir -p "$cache"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -r "$req"
    touch "$venv/.complete"
  fi
  if [ "$(readlink .venv 2>/dev/null)" != "$venv" ]; then
    rm -rf .venv
    ln -s "$venv" .venv
  fi
  python="$root/.venv/bin/python"
fi

# CLIP's BPE vocabulary for the tokenizer tests (the pinned open-clip-torch wheel, cached beside the
# environment; never committed).
bash "$root/scripts/fetch_clip_vocab.sh" "$python" >/dev/null \
  || log "warning: fetching CLIP's vocabulary failed; the tokenizer tests fetch it again"

# The real path, so that RPATHs of installed binaries do not go through the clone's .venv link.
torch_prefix="$(readlink -f "$("$python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')")"
cmake_bin="$(dirname "$python")/cmake"
[ -x "$cmake_bin" ] || cmake_bin="$(command -v cmake)"

# --- 3. Configure and build --------------------------------------------------------------
build_dir="${DDIM_BUILD_DIR:-build}"
build_type="${DDIM_BUILD_TYPE:-Release}"
jobs="${DDIM_JOBS:-$(nproc)}"
# torch's CMake config enables the CUDA language when the wheel is a CUDA build: with a toolkit it
# is used (found on PATH or in /usr/local/cuda); without one, cmake/ddimFindTorch.cmake imports
# LibTorch's libraries directly. Either way the build is one binary for CPU-only and CUDA machines.
if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi
configure_args=(-S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type"
                -DCMAKE_PREFIX_PATH="$torch_prefix" -DDDIM_PYTHON="$python")
[ -z "${DDIM_SANITIZE:-}" ] || configure_args+=(-DDDIM_SANITIZE="$DDIM_SANITIZE")
# shellcheck disable=SC2206
[ -z "${DDIM_CMAKE_ARGS:-}" ] || configure_args+=(${DDIM_CMAKE_ARGS})
if [ ! -f "$build_dir/CMakeCache.txt" ] || [ -n "${DDIM_SANITIZE:-}${DDIM_CMAKE_ARGS:-}" ]; then
  log "configuring $build_dir ($build_type)"
  mkdir -p "$build_dir"
  "$cmake_bin" "${configure_args[@]}" >"$build_dir/configure.log" 2>&1 \
    || { cat "$build_dir/configure.log" >&2; log "CMake configure failed (log: $build_dir/configure.log)"; exit 1; }
fi
# The first command of the README needs the library and the tools only; the tests and benchmarks
# are built by scripts/test.sh (DDIM_TARGETS=all) or by whoever asks for them.
targets="${DDIM_TARGETS:-ddim-generate ddim-invert}"
target_args=()
# shellcheck disable=SC2206
[ "$targets" = all ] || target_args=(--target $targets)
log "building $build_dir ($targets) with $jobs jobs"
"$cmake_bin" --build "$build_dir" --parallel "$jobs" "${target_args[@]}"

# --- 4. The embedded model, compiled for this machine -------------------------------------
# An AOTInductor package is native code for one instruction set and one torch version, so it is
# not committed: it is compiled here once per machine (about a minute and a half on 2 cores),
# cached by the inputs it depends on, and copied into models/digits/unet/model.pt2, which the
# tools prefer. models/digits/unet/model.pt (TorchScript) stays the portable fallback. Where the
# CPU has AVX512-BF16 or AMX-BF16, a bfloat16 package (model.bfloat16.pt2) is compiled beside it,
# and both are timed: unet/dtype_auto.json says which one `--dtype auto` runs.
digits="$root/models/digits"
if [ "${DDIM_NO_AOTI:-0}" != 1 ] && [ -f "$digits/unet/model.pt" ]; then
  aoti_cache="${DDIM_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ddim}"
  dtypes=float32
  if grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | grep -qwE 'avx512_bf16|amx_bf16'; then
    dtypes=float32,bfloat16
  fi
  key="$( { cat "$digits/unet/model.pt" "$digits/unet/config.json" "$root/scripts/export_unet.py"
            "$python" -c 'import torch; print(torch.__version__, torch.get_num_threads())'
            echo "$dtypes"; grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m; } | sha256sum | cut -c1-16)"
  compiled="$aoti_cache/digits-$key"
  files=(model.pt2)
  [ "$dtypes" = float32 ] || files+=(model.bfloat16.pt2 dtype_auto.json)
  if [ ! -f "$compiled/.complete" ]; then
    log "compiling the embedded model for this machine ($dtypes; cached in $compiled)"
    mkdir -p "$aoti_cache"
    work="$(mktemp -d "$aoti_cache/.digits-XXXXXX")"
    if "$python" "$root/scripts/export_unet.py" "$digits" "$work/model" --format aoti --dtype "$dtypes" \
        >"$work/export.log" 2>&1; then
      rm -rf "$compiled"
      mkdir -p "$work/compiled"
      for f in "${files[@]}"; do mv "$work/model/unet/$f" "$work/compiled/$f"; done
      touch "$work/compiled/.complete"
      mv "$work/compiled" "$compiled"
      tail -n 1 "$work/export.log" >&2
    else
      tail -n 5 "$work/export.log" >&2
      log "warning: compiling the embedded model failed; the tools run its TorchScript file instead"
    fi
    rm -rf "$work"
  fi
  if [ -f "$compiled/.complete" ]; then
    for f in "${files[@]}"; do
      if ! cmp -s "$compiled/$f" "$digits/unet/$f"; then
        cp "$compiled/$f" "$digits/unet/.$f.tmp"
        mv "$digits/unet/.$f.tmp" "$digits/unet/$f"
      fi
    done
  fi
  # A CPU without bfloat16 keeps no bfloat16 package from an earlier machine's set-up.
  if [ "$dtypes" = float32 ]; then rm -f "$digits/unet/model.bfloat16.pt2" "$digits/unet/dtype_auto.json"; fi
fi
log "done: executables in $build_dir/bin"
