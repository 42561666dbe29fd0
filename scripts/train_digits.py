#!/usr/bin/env python3
"""Train the embedded default model: a small UNet2DModel with DDPMScheduler on scikit-learn's digits.

    .venv/bin/python scripts/train_digits.py [--steps 2000] [--out build/digits-train] [--export models/digits]

The 8x8 digits ship inside scikit-learn (no download). They are scaled to [-1, 1], upscaled to
32x32 (bilinear) and the model learns to predict the noise (epsilon) of the DDPM forward process.
The first 80% of a seeded shuffle is the training set; the rest is held out for
scripts/eval_digits.py. Everything is seeded; on CPU the run is repeatable on the same machine.
The trained weights (an exponential moving average) are saved as a diffusers pipeline folder and
exported with scripts/export_unet.py into the model folder.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel
from sklearn.datasets import load_digits

SIZE = 32


def digits_dataset(seed=0):
    """(train, held_out) as float32 tensors [N, 1, 32, 32] in [-1, 1], plus their labels."""
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False).clamp(0, 1) * 2 - 1
    y = torch.tensor(digits.target)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(x))
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


def make_unet():
    return UNet2DModel(
        sample_size=SIZE,
        in_channels=1,
        out_channels=1,
        layers_per_block=1,
        block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        norm_num_groups=16,
        attention_head_dim=16,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="build/digits-train", help="diffusers pipeline folder to write")
    parser.add_argument("--export", default="models/digits", help="ddim model folder to export to ('' to skip)")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(os.cpu_count() or 1)
    (train_x, _), _ = digits_dataset(args.seed)
    unet = make_unet()
    ema = make_unet()
    ema.load_state_dict(unet.state_dict())
    ema.requires_grad_(False)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    opt = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=0.0)
    warmup = 200
    lr_at = lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(s, args.steps) / args.steps))
    sched_lr = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    gen = torch.Generator().manual_seed(args.seed + 1)
    n_params = sum(p.numel() for p in unet.parameters())
    print(f"training {n_params} parameters on {len(train_x)} digits, {args.steps} steps of {args.batch_size}")
    start = time.time()
    unet.train()
    for step in range(args.steps):
        idx = torch.randint(0, len(train_x), (args.batch_size,), generator=gen)
        x0 = train_x[idx]
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, 1000, (args.batch_size,), generator=gen)
        loss = F.mse_loss(unet(scheduler.add_noise(x0, noise, t), t).sample, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        sched_lr.step()
        with torch.no_grad():
            decay = min(0.999, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), unet.parameters()):
                pe.mul_(decay).add_(p, alpha=1 - decay)
        if step % 250 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.time() - start:7.1f} s", flush=True)
    minutes = (time.time() - start) / 60
    ema.save_pretrained(os.path.join(args.out, "unet"))
    scheduler.save_pretrained(os.path.join(args.out, "scheduler"))
    with open(os.path.join(args.out, "model_index.json"), "w") as f:
        json.dump({"_class_name": "DDPMPipeline", "scheduler": ["diffusers", "DDPMScheduler"],
                   "unet": ["diffusers", "UNet2DModel"]}, f, indent=2)
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump({"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
                   "parameters": n_params, "minutes": round(minutes, 1), "threads": torch.get_num_threads(),
                   "torch_version": torch.__version__}, f, indent=2)
    print(f"trained in {minutes:.1f} min; saved {args.out}")
    if args.export:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "export_unet.py")
        subprocess.run([sys.executable, script, args.out, args.export, "--overwrite"], check=True)
        with open(os.path.join(args.out, "training.json")) as f:
            training = json.load(f)
        with open(os.path.join(args.export, "training.json"), "w") as f:
            json.dump(training, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
