#!/usr/bin/env python3
"""How far bfloat16 images are from the float32 images of the same noise: ddim's mixed precision
(the UNet in bfloat16, latents and scheduler float32: what --dtype bfloat16 means) against an
all-bfloat16 run (UNet, latents and scheduler in bfloat16: diffusers' DDIMPipeline with its UNet
cast to bfloat16).

    .venv/bin/python bench/bf16_quality.py [--model models/digits] [--n 16] [--steps 50] [--seed 0]
        [--bin build/bin]

The float32 reference and the all-bfloat16 run are diffusers' DDIMPipeline loop on the UNet rebuilt
from the folder's model.pt; the mixed run is ddim-generate itself, on a bfloat16 TorchScript export
of the same weights made in a temporary folder. PSNR in dB over the uint8 PNG pixels, mean and
worst image.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from diffusers import DDIMScheduler
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "scripts"))
from export_unet import load_ddim_folder  # noqa: E402


def diffusers_loop(unet, scheduler, noise, steps, dtype):
    """DDIMPipeline.__call__'s loop (eta 0) from given noise, the UNet and the latents in dtype."""
    image = noise.to(dtype)
    unet = unet.to(dtype)
    scheduler.set_timesteps(steps)
    with torch.no_grad():
        for t in scheduler.timesteps:
            eps = unet(image, t).sample
            image = scheduler.step(eps, t, image, eta=0.0).prev_sample
    image = (image.float() / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return (image * 255).round().astype(np.uint8)


def psnr(a, b):
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(len(a), -1).mean(1)
    return [math.inf if m == 0 else 10 * math.log10(255.0 ** 2 / m) for m in mse]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/digits")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bin", default="build/bin")
    args = parser.parse_args()
    unet = load_ddim_folder(args.model).eval()
    config = json.load(open(os.path.join(args.model, "scheduler", "scheduler_config.json")))
    c = unet.config
    noise = torch.randn((args.n, c.in_channels, c.sample_size, c.sample_size),
                        generator=torch.Generator().manual_seed(args.seed))
    reference = diffusers_loop(unet, DDIMScheduler.from_config(config), noise, args.steps, torch.float32)
    all_bf16 = diffusers_loop(unet, DDIMScheduler.from_config(config), noise, args.steps, torch.bfloat16)

    work = tempfile.mkdtemp(prefix="ddim-bf16-")
    try:
        model = os.path.join(work, "model")
        subprocess.run([sys.executable, os.path.join(here, "..", "scripts", "export_unet.py"), args.model, model,
                        "--format", "torchscript", "--dtype", "bfloat16"], check=True, capture_output=True)
        images = []
        for dtype, folder in (("float32", args.model), ("bfloat16", model)):
            out = os.path.join(work, f"{dtype}_%03d.png")
            subprocess.run([os.path.join(args.bin, "ddim-generate"), "--model", folder, "--dtype", dtype, "-n",
                            str(args.n), "--batch-size", str(args.n), "--steps", str(args.steps), "--seed", str(args.seed), "-q", "-o", out],
                           check=True)
            images.append(np.stack([np.asarray(Image.open(out % i)) for i in range(args.n)]).reshape(reference.shape))
        ddim_fp32, mixed = images
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"model {args.model}, {args.n} images, {args.steps} steps, seed {args.seed}: PSNR against diffusers' "
          "float32 images of the same noise (dB, mean / worst image)")
    for name, img in (("ddim float32", ddim_fp32), ("ddim --dtype bfloat16 (mixed precision)", mixed),
                      ("all-bfloat16 (diffusers, UNet.to(bfloat16))", all_bf16)):
        p = psnr(img, reference)
        finite = [x for x in p if math.isfinite(x)]
        mean = sum(finite) / len(finite) if finite else math.inf
        print(f"  {name:<45} {mean:6.1f} / {min(p):6.1f}" + (f"  ({len(p) - len(finite)} identical)" if len(finite) < len(p) else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
