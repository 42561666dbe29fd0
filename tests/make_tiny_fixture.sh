#!/usr/bin/env bash
# Usage: make_tiny_fixture.sh PYTHON SOURCE_DIR OUT_DIR
# The tiny model the pipeline tests use, and diffusers' reference outputs for it:
#   OUT_DIR/src     a diffusers pipeline folder (scripts/make_tiny_unet.py)
#   OUT_DIR/model   its ddim model folder (scripts/export_unet.py): AOTInductor packages for float32
#                   and bfloat16 (model.pt2, model.bfloat16.pt2, dtype_auto.json), each with a static
#                   batch-3 model besides batch1 and batched, and TorchScript
#   OUT_DIR/ref     reference.{json,bin} (scripts/pipeline_reference.py)
set -euo pipefail
python="$1"; src="$2"; out="$3"
rm -rf "$out"
mkdir -p "$out"
"$python" "$src/scripts/make_tiny_unet.py" "$out/src" 2>/dev/null
"$python" "$src/scripts/export_unet.py" "$out/src" "$out/model" --format both --dtype float32,bfloat16 \
    --static-batches 3 2>/dev/null
"$python" "$src/scripts/pipeline_reference.py" "$out/src" "$out/ref" 2>/dev/null
