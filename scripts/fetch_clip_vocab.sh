#!/usr/bin/env bash
# Usage: fetch_clip_vocab.sh PYTHON
# Prints the path of CLIP's BPE vocabulary (open_clip/bpe_simple_vocab_16e6.txt.gz from the pinned
# open-clip-torch wheel), fetching the wheel once with pip into the ddim cache (~/.cache/ddim, or
# DDIM_VENV_CACHE) and checking its SHA-256. scripts/make_clip_vocab.py turns it into a tokenizer folder.
set -euo pipefail
python="$1"
version=3.3.0
wheel_sha256=c549ad5ed6bfc119cc11105033c0a2b9d7a2a4afeb40a58a09aab3da1a0043ce
cache="${DDIM_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ddim}/open-clip-torch-$version"
vocab="$cache/bpe_simple_vocab_16e6.txt.gz"
if [ ! -f "$vocab" ]; then
  mkdir -p "$cache"
  work="$(mktemp -d "$cache/.fetch-XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  "$python" -m pip download --quiet --no-deps "open-clip-torch==$version" -d "$work" >&2
  wheel="$work/open_clip_torch-$version-py3-none-any.whl"
  echo "$wheel_sha256  $wheel" | sha256sum --check --quiet >&2
  "$python" -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("open_clip/bpe_simple_vocab_16e6.txt.gz"))' \
    "$wheel" >"$work/vocab.gz"
  mv "$work/vocab.gz" "$vocab"
fi
echo "$vocab"
