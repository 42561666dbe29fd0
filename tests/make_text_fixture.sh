#!/usr/bin/env bash
# Usage: make_text_fixture.sh PYTHON SOURCE_DIR OUT_DIR
# The tiny text-conditioned model the text-encoder tests use, and diffusers' reference embeddings:
#   OUT_DIR/tokenizer   a CLIP tokenizer folder from CLIP's BPE file (scripts/fetch_clip_vocab.sh,
#                       scripts/make_clip_vocab.py), as Stable Diffusion 1.x has it
#   OUT_DIR/src         a StableDiffusionPipeline folder with a two-layer CLIPTextModel of width 16 over
#                       that vocabulary (scripts/make_tiny_unet.py --kind sd --tokenizer)
#   OUT_DIR/model       its ddim model folder (scripts/export_model.py: text_encoder/, tokenizer/)
#   OUT_DIR/ref         reference.{json,safetensors} (scripts/prompt_reference.py)
set -euo pipefail
python="$1"; src="$2"; out="$3"
rm -rf "$out"
mkdir -p "$out"
vocab="$(bash "$src/scripts/fetch_clip_vocab.sh" "$python")"
"$python" "$src/scripts/make_clip_vocab.py" "$vocab" "$out/tokenizer"
"$python" "$src/scripts/make_tiny_unet.py" "$out/src" --kind sd --tokenizer "$out/tokenizer" 2>/dev/null
"$python" "$src/scripts/export_model.py" "$out/src" "$out/model" --format aoti 2>/dev/null
"$python" "$src/scripts/prompt_reference.py" "$out/src" "$out/ref" 2>/dev/null
