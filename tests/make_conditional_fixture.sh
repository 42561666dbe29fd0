#!/usr/bin/env bash
# Usage: make_conditional_fixture.sh PYTHON SOURCE_DIR OUT_DIR
# The tiny conditional models the conditioning tests use, and diffusers' reference outputs:
#   OUT_DIR/class/{src,model}   a class-conditional UNet2DModel (5 classes, the last one null)
#   OUT_DIR/cross/{src,model}   a UNet2DConditionModel (encoder_hidden_states [B, 8, 16])
#   OUT_DIR/ref                 reference.{json,safetensors} (scripts/conditional_reference.py)
set -euo pipefail
python="$1"; src="$2"; out="$3"
rm -rf "$out"
mkdir -p "$out"
for kind in class cross; do
  "$python" "$src/scripts/make_tiny_unet.py" "$out/$kind/src" --kind "$kind" 2>/dev/null
done
"$python" "$src/scripts/export_unet.py" "$out/class/src" "$out/class/model" --format both --null-class 4 \
  --guidance-scale 2 2>/dev/null
"$python" "$src/scripts/export_unet.py" "$out/cross/src" "$out/cross/model" --format both --sequence-length 8 \
  2>/dev/null
"$python" "$src/scripts/conditional_reference.py" "$out/class/src" "$out/cross/src" "$out/ref" 2>/dev/null
