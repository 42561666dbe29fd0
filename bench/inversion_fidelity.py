#!/usr/bin/env python3
"""Round-trip fidelity of every ddim-invert method on real digits: PSNR and UNet calls per image.

    .venv/bin/python bench/inversion_fidelity.py [--images 16] [--steps 10,20,50,100]
                                                 [--bin build/bin] [--model DIR]
                                                 [--json out.json] [--svg docs/inversion_fidelity.svg]

The images are the first --images digits of the held-out 20% of scikit-learn's bundled digits
(scripts/train_digits.py's seeded split: the embedded model never trained on them), 32x32 as the
model sees them, written as 8-bit PNGs. Each method inverts them in one batch (`ddim-invert
--method M --steps S --reconstruct`) and the tool's PSNR of each reconstruction against its PNG is
collected; the table gives the median over images (and the worst), and the UNet calls per image
of the inversion plus the reconstruction (from the sidecars). The DDIM-pair methods run with
`--set clip_sample=false` (clipping is not invertible; edict and bdia never clip); "ddim, model
config" is plain DDIM with the model's scheduler config as it is (clip_sample true).

For a latent model (--model with a VAE, e.g. scripts/train_digits_ldm.py's), the round trip is
encode, invert, reconstruct, decode, and the table adds the VAE alone: each digit encoded and
decoded with no inversion (the folder's TorchScript VAE, the encoding and quantization the tool
uses), the bound on any method's PSNR, so that the inversion's own share of the error shows.
"""

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

UNCLIPPED = ["--set", "clip_sample=false"]
METHODS = [  # label, ddim-invert arguments
    ("ddim, model config", ["--method", "ddim"]),
    ("ddim", ["--method", "ddim"] + UNCLIPPED),
    ("dpmsolver", ["--method", "dpmsolver"]),
    ("fixed-point (ddim)", ["--method", "fixed-point"] + UNCLIPPED),
    ("fixed-point (dpmsolver)", ["--method", "fixed-point", "--scheduler", "dpmsolver"]),
    ("edict", ["--method", "edict"] + UNCLIPPED),
    ("bdia", ["--method", "bdia"] + UNCLIPPED),
]
COLORS = ["#a0aec0", "#4a5568", "#d69e2e", "#38a169", "#9ae6b4", "#2b6cb0", "#c53030"]


def held_out_pngs(folder, count):
    from train_digits import digits_dataset

    _, (held_out, _) = digits_dataset()
    paths = []
    for i in range(count):
        pixels = np.round((held_out[i, 0].numpy() + 1) / 2 * 255).astype(np.uint8)
        path = os.path.join(folder, f"real_{i:02d}.png")
        Image.fromarray(pixels, mode="L").save(path)
        paths.append(path)
    return paths


def vae_alone_psnr(model, images):
    """PSNR of decode(encode(x)) for each PNG, through the model folder's TorchScript VAE; None for a
    pixel-space model."""
    import torch

    meta_path = os.path.join(model, "ddim_export.json") if model else ""
    vae = json.load(open(meta_path)).get("vae") if meta_path and os.path.isfile(meta_path) else None
    if not vae:
        return None
    module = torch.jit.load(os.path.join(model, vae["component"], "model.pt"))
    out = []
    with torch.no_grad():
        for path in images:
            x = torch.from_numpy(np.asarray(Image.open(path), dtype=np.float32) / 255.0)
            x = x.reshape(1, 1, *x.shape) if x.dim() == 2 else x.permute(2, 0, 1).unsqueeze(0)
            encoded = module.encode(x * 2 - 1)
            if vae["class"] == "AutoencoderKL":  # the posterior's mode, as the tool's default
                encoded = encoded.chunk(2, dim=1)[0]
            back = (module.decode(encoded) / 2 + 0.5).clamp(0, 1)
            mse = (back - x).pow(2).mean().item()
            out.append(10 * math.log10(1 / mse) if mse > 0 else math.inf)
    return out


def run_method(inv, model, args, steps, images, work):
    out = os.path.join(work, "lat.pt")
    cmd = [inv, *images, "--steps", str(steps), "--batch-size", str(len(images)), "-o", out, "--reconstruct",
           os.path.join(work, "back_%02d.png"), *args]
    if model:
        cmd += ["--model", model]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr}")
    psnr = [float(m) if m != "inf" else math.inf for m in re.findall(r"psnr (\S+) dB", proc.stdout)]
    if len(psnr) != len(images):
        raise SystemExit(f"expected {len(images)} PSNR lines, got: {proc.stdout}")
    back = json.load(open(os.path.join(work, "back_00.png.json")))
    calls = back["unet_calls"] + back["reconstruct_unet_calls"]
    return psnr, calls


def svg_plot(rows, steps, path):
    width, height, left, top, plot_w, plot_h = 760, 420, 60, 40, 470, 320
    finite = [r["median_psnr"] for r in rows if math.isfinite(r["median_psnr"])]
    hi = 10 * math.ceil(max(finite) / 10)
    lo = 10 * math.floor(min(finite) / 10)
    xs = {s: left + plot_w * math.log(s / steps[0]) / math.log(steps[-1] / steps[0]) for s in steps}
    y = lambda v: top + plot_h * (1 - (min(v, hi) - lo) / (hi - lo))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           'font-size="12">', f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="20">round-trip PSNR (dB, median over held-out digits) against inversion steps</text>']
    for tick in range(lo, hi + 1, 10):
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e2e8f0"/>')
        out.append(f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick}</text>')
    for s in steps:
        out.append(f'<text x="{xs[s]:.1f}" y="{top + plot_h + 18}" text-anchor="middle">{s}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h + 36}" text-anchor="middle">steps</text>')
    for i, (label, _) in enumerate(METHODS):
        points = [(xs[r["steps"]], y(r["median_psnr"])) for r in rows if r["method"] == label]
        line = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        out.append(f'<polyline points="{line}" fill="none" stroke="{COLORS[i]}" stroke-width="2"/>')
        for px, py in points:
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{COLORS[i]}"/>')
        ly = top + 10 + 22 * i
        out.append(f'<rect x="{left + plot_w + 20}" y="{ly}" width="14" height="14" fill="{COLORS[i]}"/>')
        out.append(f'<text x="{left + plot_w + 40}" y="{ly + 11}">{escape(label)}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--steps", default="10,20,50,100")
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--model", default="")
    parser.add_argument("--json", default="")
    parser.add_argument("--svg", default="")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    inv = os.path.join(args.bin, "ddim-invert")
    rows = []
    vae_row = None
    with tempfile.TemporaryDirectory(prefix="ddim-fidelity-") as work:
        images = held_out_pngs(work, args.images)
        vae_psnr = vae_alone_psnr(args.model, images)
        if vae_psnr is not None:
            vae_row = {"method": "VAE alone (encode, decode)", "median_psnr": statistics.median(vae_psnr),
                       "worst_psnr": min(vae_psnr)}
            print(f"{vae_row['method']:26s}            PSNR median {vae_row['median_psnr']:7.2f} dB, worst "
                  f"{vae_row['worst_psnr']:7.2f} dB", flush=True)
        for label, method_args in METHODS:
            for s in steps:
                psnr, calls = run_method(inv, args.model, method_args, s, images, work)
                rows.append({"method": label, "steps": s, "median_psnr": statistics.median(psnr),
                             "worst_psnr": min(psnr), "unet_calls_per_image": calls})
                print(f"{label:26s} {s:4d} steps: PSNR median {rows[-1]['median_psnr']:7.2f} dB, worst "
                      f"{rows[-1]['worst_psnr']:7.2f} dB, {calls} UNet calls per image", flush=True)
    print()
    print("| method | " + " | ".join(f"{s} steps" for s in steps) + " |")
    print("|---|" + "---:|" * len(steps))
    for label, _ in METHODS:
        cells = [r for r in rows if r["method"] == label]
        print(f"| {label} | " + " | ".join(f"{r['median_psnr']:.1f} dB ({r['unet_calls_per_image']})"
                                            for r in cells) + " |")
    if vae_row:
        print(f"| {vae_row['method']} | " + " | ".join(f"{vae_row['median_psnr']:.1f} dB" for _ in steps) + " |")
    mse = lambda p: 10 ** (-p / 10)
    at = {(r["method"], r["steps"]): r for r in rows}
    if 50 in steps:
        ratio = mse(at[("ddim", 50)]["median_psnr"]) / mse(at[("fixed-point (ddim)", 50)]["median_psnr"])
        print(f"\nfixed-point (ddim) vs ddim at 50 steps: {ratio:.0f}x lower median MSE")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"images": args.images, "rows": rows, "vae_alone": vae_row}, f, indent=2)
    if args.svg:
        svg_plot(rows, steps, args.svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
