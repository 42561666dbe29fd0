#!/usr/bin/env python3
"""Reference outputs of diffusers' DDIMPipeline and inversion loop, for the pipeline tests.

    .venv/bin/python scripts/pipeline_reference.py SRC OUT_DIR

SRC is a diffusers pipeline folder (unet/ + scheduler/, e.g. from scripts/make_tiny_unet.py).
Writes OUT_DIR/reference.json and reference.bin (float32 tensors):

- generate: DDIMPipeline(unet, scheduler)(batch_size, generator=torch.Generator().manual_seed(seed),
  eta, num_inference_steps, output_type="np") for eta 0 and 1, batch 1 and 3;
- invert: images in [0, 1] -> x = 2 images - 1 -> inverse.set_timesteps(N); for t in inverse.timesteps:
  x = inverse.step(unet(x, t).sample, t, x).prev_sample (pix2pix-zero's loop without guidance), with
  DDIMInverseScheduler and DPMSolverMultistepInverseScheduler built by from_config(scheduler.config);
- reconstruct: the forward partner (DDIMScheduler / DPMSolverMultistepScheduler) from those latents,
  decoded as the pipeline decodes: (x / 2 + 0.5).clamp(0, 1), as [B, H, W, C].
"""
import json
import os
import sys
import warnings

import numpy as np
import torch
from diffusers import (DDIMInverseScheduler, DDIMPipeline, DDIMScheduler, DDPMScheduler,
                       DPMSolverMultistepInverseScheduler, DPMSolverMultistepScheduler, UNet2DModel)

PARTNERS = {"ddim": (DDIMInverseScheduler, DDIMScheduler),
            "dpmsolver": (DPMSolverMultistepInverseScheduler, DPMSolverMultistepScheduler)}


class Blob:
    def __init__(self):
        self.parts, self.offset = [], 0

    def add(self, array):
        arr = np.ascontiguousarray(np.asarray(array, dtype="<f4"))
        entry = {"offset": self.offset, "shape": list(arr.shape)}
        self.parts.append(arr.tobytes())
        self.offset += arr.size
        return entry


def main():
    src, out = sys.argv[1], sys.argv[2]
    # The default thread count, as the library uses it: reductions then split the same way.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unet = UNet2DModel.from_pretrained(src, subfolder="unet").eval()
        scheduler = DDPMScheduler.from_pretrained(src, subfolder="scheduler")
    pipe = DDIMPipeline(unet=unet, scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    blob = Blob()
    doc = {"generate": [], "invert": []}
    for eta in (0.0, 1.0):
        for batch in (1, 3):
            for steps in (10,):
                seed = 1000 + batch + int(eta * 10)
                images = pipe(batch_size=batch, generator=torch.Generator().manual_seed(seed), eta=eta,
                              num_inference_steps=steps, output_type="np").images
                doc["generate"].append({"batch_size": batch, "eta": eta, "steps": steps, "seed": seed,
                                        "images": blob.add(images)})
    images = torch.rand((2, 16, 16, 3), generator=torch.Generator().manual_seed(5))
    doc["input_images"] = blob.add(images.numpy())
    config = scheduler.config
    for kind, (inverse_cls, forward_cls) in PARTNERS.items():
        for steps in (10, 50):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                inverse = inverse_cls.from_config(config)
                forward = forward_cls.from_config(config)
            with torch.no_grad():
                x = images.permute(0, 3, 1, 2).contiguous() * 2 - 1  # NCHW, as image processors give it
                inverse.set_timesteps(steps)
                for t in inverse.timesteps:
                    x = inverse.step(unet(x, t).sample, t, x).prev_sample
                latents = x
                forward.set_timesteps(steps)
                for t in forward.timesteps:
                    x = forward.step(unet(x, t).sample, t, x).prev_sample
                decoded = (x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1)
            doc["invert"].append({"scheduler": kind, "steps": steps, "latents": blob.add(latents.numpy()),
                                  "reconstruction": blob.add(decoded.numpy())})
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "reference.bin"), "wb") as f:
        for part in blob.parts:
            f.write(part)
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(doc, f, indent=1)
    print(f"{len(doc['generate'])} generate and {len(doc['invert'])} inversion references in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
