#!/usr/bin/env bash
# Usage: make_latent_fixture.sh PYTHON SOURCE_DIR OUT_DIR
# The tiny latent model the latent-model tests use, and diffusers' reference outputs:
#   OUT_DIR/ldm/src     an LDMPipeline folder: UNet2DModel + VQModel + DDIMScheduler (scripts/make_tiny_unet.py --kind ldm)
#   OUT_DIR/ldm/model   its ddim model folder (scripts/export_model.py: the UNet as AOTInductor, float32 and
#                       bfloat16, and TorchScript; the VAE as AOTInductor and TorchScript)
#   OUT_DIR/sd/src      a StableDiffusionPipeline folder without text encoder: UNet2DConditionModel + AutoencoderKL (--kind sd)
#   OUT_DIR/sd/model    its ddim model folder (prompt embeddings [B, 8, 16])
#   OUT_DIR/ref         reference.{json,safetensors} (scripts/latent_reference.py)
set -euo pipefail
python="$1"; src="$2"; out="$3"
rm -rf "$out"
mkdir -p "$out"
"$python" "$src/scripts/make_tiny_unet.py" "$out/ldm/src" --kind ldm 2>/dev/null
"$python" "$src/scripts/export_model.py" "$out/ldm/src" "$out/ldm/model" --format both --dtype float32,bfloat16 2>/dev/null
"$python" "$src/scripts/make_tiny_unet.py" "$out/sd/src" --kind sd 2>/dev/null
"$python" "$src/scripts/export_model.py" "$out/sd/src" "$out/sd/model" --format both --sequence-length 8 2>/dev/null
"$python" "$src/scripts/latent_reference.py" "$out/ldm/src" "$out/sd/src" "$out/ref" 2>/dev/null
