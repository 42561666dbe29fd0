"""Writes the seed corpora of the libFuzzer harnesses into tests/fuzz/corpus/<harness>/.

Usage: .venv/bin/python tests/fuzz/make_corpus.py [HARNESS ...]
Seeds are small valid inputs of each kind (the fuzzer mutates from them) plus the hostile inputs
already known; scripts/fuzz.sh reads them and keeps what it finds in build-fuzz/corpus/. With harness
names, only their folders are made again (the others keep their files, hand-added ones included).
"""

import importlib.util
import io
import json
import pathlib
import shutil
import struct
import sys

import numpy as np
import torch
from PIL import Image
from diffusers import DDIMScheduler
from safetensors.torch import save as safetensors_bytes

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fuzz" / "corpus"
CLASSES = ["DDIMScheduler", "DDIMInverseScheduler", "DPMSolverMultistepInverseScheduler",
           "DPMSolverMultistepScheduler"]


def write(harness, name, data):
    folder = OUT / harness
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def scheduler_configs():
    golden = json.loads((ROOT / "tests" / "data" / "schedulers" / "golden.json").read_text())
    # One case in every 16: every class, and options of every kind, without a large corpus.
    for case in golden["cases"][::16]:
        config = dict(case["config"], _class_name=case["class"])
        head = bytes([4, min(int(case["steps"]), 256) - 1])  # 4: the config's own _class_name
        write("fuzz_scheduler_config", case["name"] + ".bin", head + json.dumps(config).encode())


def images():
    rng = np.random.default_rng(0)
    for mode, channels in (("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)):
        pixels = rng.integers(0, 256, size=(8, 6, channels), dtype=np.uint8)
        image = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode)
        for fmt in ("PNG", "JPEG"):
            if fmt == "JPEG" and mode in ("LA", "RGBA"):
                continue
            buffer = io.BytesIO()
            image.save(buffer, fmt)
            write("fuzz_image", f"{mode}.{fmt.lower()}", buffer.getvalue())
    for known in sorted((ROOT / "tests" / "data" / "images").iterdir()):
        shutil.copyfile(known, OUT / "fuzz_image" / known.name)


def latents():
    generator = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float16, torch.float64):
        tensor = torch.randn(1, 1, 4, 4, generator=generator).to(dtype)
        buffer = io.BytesIO()
        torch.save(tensor, buffer)
        name = str(dtype).replace("torch.", "")
        write("fuzz_latents", f"{name}.pt", buffer.getvalue())
        write("fuzz_latents", f"{name}.safetensors", safetensors_bytes({"latents": tensor.contiguous()}))
    # An EDICT latents file: a dict of named tensors with 0-dim parameters.
    pair = {"latents": torch.randn(1, 1, 4, 4, generator=generator), "edict_y": torch.randn(1, 1, 4, 4, generator=generator),
            "edict_p": torch.tensor(0.93, dtype=torch.float64), "num_inference_steps": torch.tensor(10)}
    buffer = io.BytesIO()
    torch.save(pair, buffer)
    write("fuzz_latents", "edict_dict.pt", buffer.getvalue())
    write("fuzz_latents", "edict_dict.safetensors",
          safetensors_bytes({k: v.to(torch.float64) if v.dim() == 0 else v for k, v in pair.items()}))


def output_patterns():
    for i, pattern in enumerate(["digits.png", "img_%03d.png", "%d", "out/%-5i_%%.png", "a%%b.png", "%u.jpg",
                                 "%s%s%n.png", "x_%d_%d.png", "%1000d"]):
        write("fuzz_output_pattern", f"pattern{i}", pattern.encode())


# --- CLIP tokenizer folders and prompts ----------------------------------------------------------

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
# fuzz_tokenizer_files' input: the four files joined by this byte (JSON text cannot hold it raw).
SEPARATOR = b"\x1e"
TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")


def bytes_to_unicode():
    """GPT-2's byte symbols, in its order: scripts/make_clip_vocab.py's, loaded from its file."""
    spec = importlib.util.spec_from_file_location("make_clip_vocab", ROOT / "scripts" / "make_clip_vocab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.bytes_to_unicode()


def added_token(content, with_type, **flags):
    token = {"content": content, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False, **flags}
    return {"__type": "AddedToken", **token} if with_type else token


def tiny_tokenizer(pad=EOS, model_max_length=77, byte_level=True):
    """A small CLIP tokenizer folder as {file name: text}: the byte symbols and their "</w>" forms
    (byte_level; else a handful of letters), a few merges, <|startoftext|> and <|endoftext|>, with
    Stable Diffusion's special tokens (1.x pads with <|endoftext|>, 2.x with "!")."""
    symbol = bytes_to_unicode()
    if byte_level:
        symbols = list(symbol.values())
    else:
        symbols = ["!", "a", "b", "e", "h", "t", "o"]
    tokens = symbols + [s + "</w>" for s in symbols]
    merges = [("t", "h"), ("th", "e</w>"), ("a", "b</w>"), ("!", "!</w>")]
    if byte_level:
        spell = lambda text: "".join(symbol[b] for b in text.encode())
        merges += [("i", "n"), ("a", "n"), ("an", "d</w>"), ("o", "f</w>"), ("p", "h"), ("ph", "o"),
                   (spell("東")[0], spell("東")[1]), (spell("東")[:2], spell("東")[2] + "</w>")]
    tokens += [left + right for left, right in merges] + [BOS, EOS]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    config = {"add_prefix_space": False, "bos_token": added_token(BOS, True), "do_lower_case": True,
              "eos_token": added_token(EOS, True), "errors": "replace", "model_max_length": model_max_length,
              "pad_token": pad, "special_tokens_map_file": "./special_tokens_map.json",
              "tokenizer_class": "CLIPTokenizer", "unk_token": added_token(EOS, True)}
    special = {"bos_token": added_token(BOS, False), "eos_token": added_token(EOS, False), "pad_token": pad,
               "unk_token": added_token(EOS, False)}
    return {"vocab.json": json.dumps(vocab, ensure_ascii=False),
            "merges.txt": "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges),
            "tokenizer_config.json": json.dumps(config, indent=2, ensure_ascii=False) + "\n",
            "special_tokens_map.json": json.dumps(special, indent=2, ensure_ascii=False) + "\n"}


def pack_tokenizer(files):
    """The folder as fuzz_tokenizer_files reads it: the files in order, up to the last one present."""
    present = [name for name in TOKENIZER_FILES if name in files]
    last = TOKENIZER_FILES.index(present[-1]) if present else -1
    return SEPARATOR.join(files.get(name, "").encode() for name in TOKENIZER_FILES[: last + 1])


def tokenizer_files():
    def edited(folder, name, change):
        out = dict(folder)
        value = json.loads(out[name])
        change(value)
        out[name] = json.dumps(value, ensure_ascii=False)
        return out

    small = tiny_tokenizer(byte_level=False)
    seeds = {
        "sd1_bytes": tiny_tokenizer(),
        "sd2_pad_bang": tiny_tokenizer(pad="!"),
        "small": small,
        "small_no_special_map": {k: v for k, v in small.items() if k != "special_tokens_map.json"},
        "small_pad_from_map": edited(small, "special_tokens_map.json", lambda m: m.update(pad_token="!")),
        # transformers' newer tokenizer_config.json: added_tokens_decoder, no special_tokens_map.json read.
        "small_added_tokens_decoder": edited(small, "tokenizer_config.json", lambda c: c.update(
            added_tokens_decoder={str(json.loads(small["vocab.json"])[t]): added_token(t, False, special=True)
                                  for t in (BOS, EOS)})),
        "small_length_2": edited(small, "tokenizer_config.json", lambda c: c.update(model_max_length=2)),
        "small_length_max": edited(small, "tokenizer_config.json", lambda c: c.update(model_max_length=1 << 24)),
        "small_raw_specials": edited(small, "tokenizer_config.json", lambda c: c.update(
            bos_token=added_token(BOS, True, normalized=False, special=True), eos_token=EOS)),
        # Refused ones, each by a different check.
        "bad_lstrip": edited(small, "tokenizer_config.json", lambda c: c.update(pad_token={"content": "!", "lstrip": True})),
        "bad_length": edited(small, "tokenizer_config.json", lambda c: c.update(model_max_length="77")),
        "bad_pad_unknown": edited(small, "special_tokens_map.json", lambda m: m.update(pad_token="<pad>")),
        "bad_negative_id": edited(small, "vocab.json", lambda v: v.update(a=-3)),
        "bad_merge": dict(small, **{"merges.txt": "#version: 0.2\na b</w>\na c\n"}),
        "bad_merge_spaces": dict(small, **{"merges.txt": "#version: 0.2\r\nt  h\r\n"}),
        "bad_vocab_json": dict(small, **{"vocab.json": '{"a": '}),
        "bad_decoder_key": edited(small, "tokenizer_config.json", lambda c: c.update(
            added_tokens_decoder={"x1": added_token(BOS, False)})),
        "only_vocab": {"vocab.json": small["vocab.json"]},
    }
    for name, files in seeds.items():
        write("fuzz_tokenizer_files", name + ".bin", pack_tokenizer(files))


def prompts():
    texts = {
        "ascii": "a photo of an astronaut riding a horse on mars",
        "sd_style": "A Beautiful painting of the Castle, trending on artstation, 8k!!! (masterpiece:1.2), [oil]",
        "apostrophes": "it's the cat's toy; they're here, we've gone, I'm sure, you'll see, he'd go 'quoted'",
        "specials": "<|startoftext|>a<|endoftext|>b <|endoftext|><|startoftext|> <|ENDOFTEXT|> <|endoftext",
        "whitespace": "  tab\there\n\nnew\u00a0line\u2003em\u3000ideographic\r\n",
        "digits": "1234567890 3.14 1e-5 ０１２",
        "cjk": "東京の夜景、桜と富士山 한국어 텍스트 中文提示词",
        "emoji": "🐴🚀 👨‍👩‍👧 🏳️‍🌈 ❤️ 🇯🇵",
        "accents": "café cafe\u0301 Ångström İstanbul ΣΊΣΥΦΟΣ straße ﬁ",
        "rtl_and_marks": "مرحبا שלום क़ि ज़ ̀x",
        "long_word": "a" * 600 + " " + "th" * 300,
        "long_prompt": " ".join(["the photo of and"] * 40),
        "empty": "",
        "nul": "a\0b",
    }
    for name, text in texts.items():
        write("fuzz_prompt", name + ".txt", text.encode())
    for name, raw in {"bad_utf8_ff": b"ab\xff", "bad_utf8_cut": b"a\xc3", "bad_overlong": b"\xc0\xaf",
                      "bad_surrogate": b"xx\xed\xa0\x80", "bad_past_max": b"\xf4\x90\x80\x80"}.items():
        write("fuzz_prompt", name + ".txt", raw)


# --- --embeds files -----------------------------------------------------------------------------

def embeds():
    generator = torch.Generator().manual_seed(0)
    one = torch.randn(1, 77, 32, generator=generator)
    write("fuzz_embeds", "f32_1x77x32.safetensors", safetensors_bytes({"embeds": one}))
    write("fuzz_embeds", "f16_1x77x32.safetensors", safetensors_bytes({"prompt_embeds": one.half()}))
    write("fuzz_embeds", "bf16_2x77x32_named.safetensors",
          safetensors_bytes({"embeds": torch.randn(2, 77, 32, generator=generator).bfloat16(),
                             "pooled": torch.randn(2, 32, generator=generator).bfloat16()}))
    buffer = io.BytesIO()
    torch.save(one.half(), buffer)
    write("fuzz_embeds", "f16_1x77x32.pt", buffer.getvalue())
    # Refused: wrong shape, a NaN, several tensors and none named embeds, cut short, a header that
    # claims more than the file holds, data offsets past the data.
    write("fuzz_embeds", "bad_shape.safetensors", safetensors_bytes({"embeds": one[:, :, :16].half().contiguous()}))
    nan = one.half().clone()
    nan[0, 3, 5] = float("nan")
    write("fuzz_embeds", "bad_nan.safetensors", safetensors_bytes({"embeds": nan}))
    write("fuzz_embeds", "bad_unnamed_pair.safetensors",
          safetensors_bytes({"a": one.half(), "b": one.half()}))
    good = safetensors_bytes({"embeds": one.half()})
    write("fuzz_embeds", "bad_truncated.safetensors", good[: len(good) // 2])
    header = json.dumps({"embeds": {"dtype": "F16", "shape": [1, 77, 32], "data_offsets": [0, 4928]}}).encode()
    write("fuzz_embeds", "bad_header_length.safetensors", struct.pack("<Q", len(header) + 4096) + header)
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "embeds": {"dtype": "F16", "shape": [1, 77, 32], "data_offsets": [64, 4992]}}).encode()
    write("fuzz_embeds", "bad_offsets.safetensors", struct.pack("<Q", len(header)) + header + bytes(4928))


# --- Sidecars -----------------------------------------------------------------------------------

def sidecars():
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    config = json.loads(scheduler.to_json_string())
    base = {"ddim_sidecar": 1, "ddim_version": "0.1.0", "libtorch": "2.13.0", "model": "/models/sd-tiny",
            "unet_file": "unet/model.pt2", "unet_format": "aoti",
            "unet_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "device": "cpu", "dtype": "float32"}
    generate = dict(base, tool="ddim-generate", scheduler_config=config, set={"timestep_spacing": "trailing"},
                    steps=50, eta=0.0, num_images=4, batch_size=2, seed=7, latents=None, method={"name": "ddim"},
                    batch=1, index=3)
    condition = {"class_label": None, "guidance_scale": 7.5, "guidance_rescale": 0.0, "embeds": "emb.safetensors",
                 "embeds_sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                 "negative_embeds": "neg.safetensors",
                 "negative_embeds_sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                 "prompt": None, "negative_prompt": None, "clip_skip": None}
    prompted = dict(condition, embeds=None, embeds_sha256=None, negative_embeds=None, negative_embeds_sha256=None,
                    prompt="a photo of a cat", negative_prompt="blurry", clip_skip=1)
    latent = dict(generate, vae_file="vae/decoder.pt2",
                  vae_sha256="2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
                  condition=condition)
    interpolated = dict(generate, latents="a.pt", interpolate="b.pt", frames=8, frame_weight=3 / 7,
                        method={"name": "edict", "edict_p": 0.93}, steps=10)
    classes = dict(generate, condition=dict(condition, class_label="1,2,3,null", guidance_scale=4.0, embeds=None,
                                            embeds_sha256=None, negative_embeds=None, negative_embeds_sha256=None))
    invert = dict(base, tool="ddim-invert", method={"name": "fixed-point", "scheduler": "ddim", "iterations": 5,
                                                     "tolerance": 1e-4},
                  scheduler="DDIMScheduler", scheduler_config=config,
                  forward_scheduler_config=dict(config, _class_name="DDIMInverseScheduler"), set={},
                  steps=50, resize=False, encode_seed=None, batch_size=16, unet_calls=250,
                  inputs=["images/cat.png", "images/dog.jpg"], latents="latents.pt")
    per_image = dict(base, tool="ddim-invert", method={"name": "bdia", "bdia_gamma": 0.96}, scheduler="DDIMScheduler",
                     scheduler_config=config, set={"rescale_betas_zero_snr": True}, steps=25, resize=True,
                     encode_seed=1234, batch_size=4, reconstruct=True, input="images/cat.png",
                     condition=dict(prompted, guidance_scale=1.0, negative_prompt=None, clip_skip=None))
    seeds = {
        "generate.png": generate,
        "generate_latent_embeds.png": latent,
        "generate_prompt.png": dict(generate, condition=prompted),
        "generate_interpolate.png": interpolated,
        "generate_class_labels.png": classes,
        "generate_before_schema.png": {k: v for k, v in generate.items() if k != "ddim_sidecar"},
        "generate_grid.png": dict({k: v for k, v in generate.items() if k not in ("index", "batch")}, grid_gap=2),
        "invert.pt": invert,
        "invert_dpmsolver.pt": dict(invert, method={"name": "dpmsolver"}, scheduler="DPMSolverMultistepInverseScheduler"),
        "invert_per_image.pt": per_image,
        # Refused: a newer schema, a seed that is not one, an index outside the run, an unknown method.
        "bad_schema.png": dict(generate, ddim_sidecar=2),
        "bad_seed.png": dict(generate, seed=-1),
        "bad_index.png": dict(generate, index=4, batch=2),
        "bad_method.pt": dict(invert, method={"name": "fixed-point", "iterations": 0}),
    }
    for name, record in seeds.items():
        write("fuzz_sidecar", name + ".json", (json.dumps(record, indent=2) + "\n").encode())


MAKERS = {"fuzz_scheduler_config": scheduler_configs, "fuzz_image": images, "fuzz_latents": latents,
          "fuzz_output_pattern": output_patterns, "fuzz_tokenizer_files": tokenizer_files, "fuzz_prompt": prompts,
          "fuzz_embeds": embeds, "fuzz_sidecar": sidecars}


def main():
    unknown = [name for name in sys.argv[1:] if name not in MAKERS]
    if unknown:
        sys.exit(f"make_corpus.py: no harness {', '.join(unknown)} (have: {', '.join(MAKERS)})")
    chosen = sys.argv[1:] or list(MAKERS)
    if sys.argv[1:]:
        for name in chosen:
            shutil.rmtree(OUT / name, ignore_errors=True)
    else:
        shutil.rmtree(OUT, ignore_errors=True)
    for name in chosen:
        MAKERS[name]()
    for name in chosen:
        folder = OUT / name
        print(f"{folder.relative_to(ROOT)}: {len(list(folder.iterdir()))} files")


if __name__ == "__main__":
    main()
