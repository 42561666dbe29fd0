#!/usr/bin/env bash
# Usage: make_tokenizer_fixture.sh PYTHON SOURCE_DIR OUT_DIR
# The CLIP tokenizer folders and transformers' reference ids the tokenizer tests use:
#   OUT_DIR/sd1/   vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json as Stable
#                  Diffusion 1.x has them (pads with <|endoftext|>), from CLIP's BPE file
#                  (scripts/fetch_clip_vocab.sh, scripts/make_clip_vocab.py)
#   OUT_DIR/sd2/   the same padding with "!" (id 0), as Stable Diffusion 2.x
#   OUT_DIR/ref1/, OUT_DIR/ref2/   prompts.json and code_points.txt (scripts/make_tokenizer_reference.py)
set -euo pipefail
python="$1"; src="$2"; out="$3"
rm -rf "$out"
mkdir -p "$out"
vocab="$(bash "$src/scripts/fetch_clip_vocab.sh" "$python")"
"$python" "$src/scripts/make_clip_vocab.py" "$vocab" "$out/sd1"
"$python" "$src/scripts/make_clip_vocab.py" "$vocab" "$out/sd2" --pad-token '!'
"$python" "$src/scripts/make_tokenizer_reference.py" "$out/sd1" "$out/ref1" 2>/dev/null
"$python" "$src/scripts/make_tokenizer_reference.py" "$out/sd2" "$out/ref2" --count 2000 2>/dev/null
touch "$out/.complete"
