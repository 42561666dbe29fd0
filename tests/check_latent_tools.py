#!/usr/bin/env python3
"""ddim-generate and ddim-invert on the tiny latent model (LDMPipeline: UNet2DModel + VQModel): images
of the VAE's size, parity with LDMPipeline through the tools, the VAE in the sidecars, the round
trip through the encoder, and images of the wrong size refused.

    check_latent_tools.py BIN_DIR LATENT_FIXTURE_DIR
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
    return ok


def run(cmd, cwd):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def main():
    bin_dir, fixture = sys.argv[1], sys.argv[2]
    gen, inv = os.path.join(bin_dir, "ddim-generate"), os.path.join(bin_dir, "ddim-invert")
    model = os.path.abspath(os.path.join(fixture, "ldm", "model"))
    doc = json.load(open(os.path.join(fixture, "ref", "reference.json")))
    tensors = load_file(os.path.join(fixture, "ref", "reference.safetensors"))
    # The folder has both VAE files; the tools run the compiled one, as for the UNet.
    vae_sha = hashlib.sha256(open(os.path.join(model, "vqvae", "model.pt2"), "rb").read()).hexdigest()
    with tempfile.TemporaryDirectory() as w:
        # LDMPipeline's images through the tool (the AOTInductor UNet and VAE: within 2 levels).
        case = next(c for c in doc["cases"] if c["kind"] == "generate" and c["batch"] == 3 and c["eta"] == 1.0)
        r = run([gen, "--model", model, "-n", "3", "--batch-size", "3", "--steps", str(case["steps"]), "--eta", "1",
                 "--seed", str(case["seed"]), "-o", "ldm.png", "-q"], w)
        if check(r.returncode == 0, f"generate: rc {r.returncode} {r.stderr}"):
            got = np.stack([np.asarray(Image.open(os.path.join(w, f"ldm_{i}.png"))) for i in range(3)]).astype(int)
            want = (tensors[case["tensor"]].numpy() * 255).round().clip(0, 255).astype(int)
            check(got.shape == (3, 16, 16, 3), f"images of shape {got.shape}, the VAE's are 16x16 RGB")
            if got.shape == want.shape:
                diff = np.abs(got - want)
                check(diff.max() <= 2 and (diff == 0).mean() >= 0.99,
                      f"LDMPipeline parity through ddim-generate: {diff.max()} levels, {(diff == 0).mean():.4f} same")
            side = json.load(open(os.path.join(w, "ldm_0.png.json")))
            check(side.get("vae_file") == "vqvae/model.pt2" and side.get("vae_sha256") == vae_sha,
                  f"sidecar names the VAE: {side.get('vae_file')} {side.get('vae_sha256')}")
            # The UNet in bfloat16 (the folder has its package), the VAE in float32 as always.
            r = run([gen, "--model", model, "-n", "3", "--batch-size", "3", "--steps", str(case["steps"]), "--eta",
                     "1", "--seed", str(case["seed"]), "--dtype", "bfloat16", "-o", "bf16.png", "-q"], w)
            if check(r.returncode == 0, f"generate --dtype bfloat16: rc {r.returncode} {r.stderr}"):
                side = json.load(open(os.path.join(w, "bf16_0.png.json")))
                check(side.get("unet_file") == "unet/model.bfloat16.pt2" and side.get("vae_file") == "vqvae/model.pt2",
                      f"bfloat16 sidecar: {side.get('unet_file')} {side.get('vae_file')}")
                bf16 = np.stack([np.asarray(Image.open(os.path.join(w, f"bf16_{i}.png"))) for i in range(3)])
                mse = ((bf16.astype(float) - got) ** 2).mean()
                psnr = 10 * np.log10(255 ** 2 / mse) if mse else float("inf")
                check(bf16.shape == got.shape and psnr >= 25, f"bfloat16 UNet against float32: {psnr:.1f} dB PSNR")
        # Invert through the encoder, reconstruct through the decoder; the latents are the UNet's size.
        r = run([inv, "--model", model, "ldm_0.png", "-o", "lat.pt", "--reconstruct", "back.png", "--steps", "10",
                 "-q"], w)
        if check(r.returncode == 0 and "psnr" in r.stdout, f"invert: rc {r.returncode} {r.stderr} {r.stdout}"):
            lat = torch.load(os.path.join(w, "lat.pt"))
            check(tuple(lat.shape) == (1, 3, 8, 8), f"inverted latents of shape {tuple(lat.shape)}, not (1, 3, 8, 8)")
            side = json.load(open(os.path.join(w, "back.png.json")))
            check(side.get("vae_sha256") == vae_sha, f"reconstruction sidecar: {side.get('vae_sha256')}")
            check(np.asarray(Image.open(os.path.join(w, "back.png"))).shape == (16, 16, 3), "reconstruction size")
        # An image of the UNet's latent size is not the model's image size.
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(os.path.join(w, "small.png"))
        r = run([inv, "--model", model, "small.png", "-o", "small.pt", "-q"], w)
        lines = r.stderr.strip().splitlines()
        check(r.returncode != 0 and len(lines) == 1 and "is 8x8, the model takes 16x16 (pass --resize)" in lines[0]
              and not os.path.exists(os.path.join(w, "small.pt")), f"8x8 image: rc {r.returncode} {r.stderr!r}")
        r = run([inv, "--model", model, "small.png", "--resize", "-o", "small.pt", "-q"], w)
        check(r.returncode == 0, f"--resize: {r.stderr}")
    for f in failures:
        print("FAIL", f)
    print("latent tools: " + ("ok" if not failures else f"{len(failures)} failures"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
