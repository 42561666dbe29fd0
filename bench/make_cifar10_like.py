#!/usr/bin/env python3
"""A UNet2DModel with google/ddpm-cifar10-32's architecture (35.7 M parameters), seeded random
weights, saved as a diffusers pipeline folder: the benchmarks' stand-in for that model, which
cannot be downloaded here. Speed depends on the architecture, not on the weights' values.

    .venv/bin/python bench/make_cifar10_like.py OUT [--seed 0]
"""
import argparse
import sys

import torch
from diffusers import DDIMPipeline, DDPMScheduler, UNet2DModel


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    # google/ddpm-cifar10-32's unet/config.json.
    unet = UNet2DModel(
        sample_size=32, in_channels=3, out_channels=3, layers_per_block=2,
        block_out_channels=(128, 256, 256, 256),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=None, norm_num_groups=32, norm_eps=1e-6, act_fn="silu", flip_sin_to_cos=False,
        freq_shift=1, downsample_padding=0, center_input_sample=False, mid_block_scale_factor=1,
        time_embedding_type="positional",
    )
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                              clip_sample=True, variance_type="fixed_large")
    DDIMPipeline(unet=unet, scheduler=scheduler).save_pretrained(args.out)
    n = sum(p.numel() for p in unet.parameters())
    print(f"saved {args.out}: {n / 1e6:.1f} M parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
