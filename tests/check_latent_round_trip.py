#!/usr/bin/env python3
"""Inversion through a trained VAE on real images: models/digits-ldm (scripts/train_digits_ldm.py).

    check_latent_round_trip.py BIN_DIR MODEL_DIR

Eight held-out digits (never trained on) go through ddim-invert --reconstruct with every method
at 20 steps: encode, invert, reconstruct, decode. The VAE alone (encode, then decode) is what an
exact inversion gives back. Checks: the VAE is trained (median PSNR >= 20 dB); EDICT and BDIA, which
retrace their own inversion, come within 0.5 dB of the VAE alone on every digit. The other methods
are printed beside them (their latents differ from the encoding, and a VQ decoder can decode
such latents a little closer to the digit than the encoding: the VAE alone is no strict bound).
"""
import os
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from inversion_fidelity import METHODS, held_out_pngs, run_method, vae_alone_psnr  # noqa: E402

EXACT = {"edict", "bdia"}


def main():
    bin_dir, model = sys.argv[1], sys.argv[2]
    inv = os.path.join(bin_dir, "ddim-invert")
    failures = []
    with tempfile.TemporaryDirectory(prefix="ddim-latent-round-trip-") as work:
        images = held_out_pngs(work, 8)
        vae = vae_alone_psnr(model, images)
        if vae is None:
            print(f"FAIL {model} has no VAE")
            return 1
        print(f"VAE alone: median {statistics.median(vae):.2f} dB, worst {min(vae):.2f} dB")
        if statistics.median(vae) < 20:
            failures.append(f"the VAE alone gives {statistics.median(vae):.2f} dB (< 20): not trained")
        for label, args in METHODS:
            psnr, calls = run_method(inv, model, args, 20, images, work)
            print(f"{label:26s}: median {statistics.median(psnr):.2f} dB, worst {min(psnr):.2f} dB, "
                  f"{calls} UNet calls per image")
            gaps = [v - p for v, p in zip(vae, psnr)]
            if label in EXACT and max(gaps) > 0.5:
                failures.append(f"{label}: {max(gaps):.2f} dB below the VAE alone on one digit (> 0.5)")
    for f in failures:
        print("FAIL", f)
    print("latent round trip checks passed" if not failures else f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
