#!/usr/bin/env bash
# The environment bench/unet_vs_peers.py runs in: the main one (scripts/setup.sh's .venv, with torch
# and diffusers) plus the peers of bench/requirements-peers.txt (OpenVINO, ONNX Runtime), installed
# into an environment of their own that sees the main one's packages through a .pth file. The main
# environment is not touched. Prints the environment's python, to run the benchmark with:
#
#   "$(bench/setup_peers.sh)" bench/unet_vs_peers.py --model DIR
#
# Environment: DDIM_VENV_CACHE, where it is kept (~/.cache/ddim, as scripts/setup.sh).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
main_python="$root/.venv/bin/python"
[ -x "$main_python" ] || { echo "setup_peers: $main_python missing; run scripts/setup.sh first" >&2; exit 1; }
req="$root/bench/requirements-peers.txt"
key="$(cat "$req" "$root/scripts/requirements.txt" | sha256sum | cut -c1-16)"
cache="${DDIM_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ddim}"
env="$cache/bench-peers-$key"
if [ ! -f "$env/.complete" ]; then
  echo "setup_peers: creating $env" >&2
  rm -rf "$env"
  "$main_python" -m venv "$env"
  main_site="$("$main_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  peer_site="$("$env/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  # After the peers' own site-packages: what they install themselves comes first.
  echo "$main_site" >"$peer_site/ddim-main-environment.pth"
  "$env/bin/python" -m pip install --quiet --upgrade pip >&2
  "$env/bin/python" -m pip install --quiet -r "$req" >&2
  "$env/bin/python" -c 'import torch, diffusers, openvino, onnxruntime' \
    || { echo "setup_peers: $env cannot import torch, diffusers and the peers" >&2; exit 1; }
  touch "$env/.complete"
fi
echo "$env/bin/python"
