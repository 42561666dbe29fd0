"""Writes the seed corpora of the libFuzzer harnesses into tests/fuzz/corpus/<harness>/.

Usage: .venv/bin/python tests/fuzz/make_corpus.py
Seeds are small valid inputs of each kind (the fuzzer mutates from them) plus the hostile inputs
already known; scripts/fuzz.sh reads them and keeps what it finds in build-fuzz/corpus/.
"""

import io
import json
import pathlib
import shutil

import numpy as np
import torch
from PIL import Image
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


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    scheduler_configs()
    images()
    latents()
    output_patterns()
    for folder in sorted(OUT.iterdir()):
        print(f"{folder.relative_to(ROOT)}: {len(list(folder.iterdir()))} files")


if __name__ == "__main__":
    main()
