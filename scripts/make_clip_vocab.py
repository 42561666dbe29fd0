#!/usr/bin/env python3
"""Build a CLIP tokenizer folder (as a diffusers pipeline keeps in tokenizer/) from CLIP's BPE file.

Usage: make_clip_vocab.py SRC_GZ OUT_DIR [--pad-token TOKEN] [--model-max-length N]

SRC_GZ is open-clip-torch's open_clip/bpe_simple_vocab_16e6.txt.gz (the vocabulary of
openai/clip-vit-large-patch14, which Stable Diffusion 1.x and 2.x use). OUT_DIR gets the four files
transformers' CLIPTokenizer reads: vocab.json, merges.txt, tokenizer_config.json and
special_tokens_map.json, in the form of Stable Diffusion's tokenizer/ folders. The vocabulary is
derived exactly as CLIP's SimpleTokenizer derives it:
  - the 256 byte symbols (GPT-2's bytes_to_unicode, in its order), then the same with "</w>",
  - one token per merge, merges = lines[1 : 49152 - 256 - 2 + 1] of the file (48894 merges),
  - then <|startoftext|> and <|endoftext|>: 49408 tokens in all.
--pad-token '!' gives Stable Diffusion 2.x's variant (pads with "!", id 0); the default pads with
<|endoftext|> as Stable Diffusion 1.x does.
"""

import argparse
import gzip
import json
import pathlib
import sys

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"


def bytes_to_unicode():
    """GPT-2's reversible map from the 256 byte values to printable characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    byte_values = printable[:]
    code_points = printable[:]
    extra = 0
    for b in range(256):
        if b not in byte_values:
            byte_values.append(b)
            code_points.append(256 + extra)
            extra += 1
    return dict(zip(byte_values, map(chr, code_points)))


def added_token(content, with_type):
    token = {"content": content, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
    return {"__type": "AddedToken", **token} if with_type else token


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src_gz", type=pathlib.Path)
    parser.add_argument("out_dir", type=pathlib.Path)
    parser.add_argument("--pad-token", default=EOS)
    parser.add_argument("--model-max-length", type=int, default=77)
    args = parser.parse_args()

    lines = gzip.open(args.src_gz).read().decode("utf-8").split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    pairs = [tuple(line.split()) for line in merges]
    if len(pairs) != 48894 or any(len(p) != 2 for p in pairs):
        sys.exit(f"make_clip_vocab.py: {args.src_gz} does not hold CLIP's 48894 merges after its header line")

    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(p) for p in pairs] + [BOS, EOS]
    vocab = {token: i for i, token in enumerate(tokens)}
    if len(vocab) != 49408:
        sys.exit(f"make_clip_vocab.py: {len(vocab)} distinct tokens, expected 49408")

    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(p) for p in pairs) + "\n", encoding="utf-8")
    config = {
        "add_prefix_space": False,
        "bos_token": added_token(BOS, True),
        "do_lower_case": True,
        "eos_token": added_token(EOS, True),
        "errors": "replace",
        "model_max_length": args.model_max_length,
        "pad_token": args.pad_token,
        "special_tokens_map_file": "./special_tokens_map.json",
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": added_token(EOS, True),
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    special = {
        "bos_token": added_token(BOS, False),
        "eos_token": added_token(EOS, False),
        "pad_token": args.pad_token,
        "unk_token": added_token(EOS, False),
    }
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
