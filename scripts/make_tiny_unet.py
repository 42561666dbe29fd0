#!/usr/bin/env python3
"""A tiny seeded UNet and a DDPMScheduler config, saved as a diffusers pipeline folder.

    .venv/bin/python scripts/make_tiny_unet.py OUT [--seed 0] [--kind unconditional|class|cross]

unconditional: a UNet2DModel, 16x16 RGB, two resolution levels with one attention block: small
enough for tests, with every kind of layer the pipelines meet (ResNet, attention, down/up sampling,
time embedding). class: the same with a class embedding table of 5 rows (num_class_embeds; the
tests treat row 4 as the null class). cross: a UNet2DConditionModel on 4-channel 8x8 latents with
cross-attention to encoder_hidden_states of width 16, as Stable Diffusion's UNet in miniature. The
weights are random (seeded), so outputs are deterministic but not images of anything.
"""
import argparse
import json
import os
import sys

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel, UNet2DModel

# --kind class: rows of the class embedding; the last one stands for the null class.
TINY_CLASSES = 5


def make_unet(kind):
    if kind == "cross":
        return UNet2DConditionModel(
            sample_size=8,
            in_channels=4,
            out_channels=4,
            layers_per_block=1,
            block_out_channels=(16, 32),
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=16,
            norm_num_groups=8,
            attention_head_dim=4,
        )
    return UNet2DModel(
        sample_size=16,
        in_channels=3,
        out_channels=3,
        layers_per_block=1,
        block_out_channels=(16, 32),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
        attention_head_dim=8,
        num_class_embeds=TINY_CLASSES if kind == "class" else None,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kind", choices=["unconditional", "class", "cross"], default="unconditional")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    unet = make_unet(args.kind)
    # Random init leaves some weights at zero (e.g. output convolutions); give every parameter
    # seeded values so the model's output depends on its input and timestep everywhere.
    with torch.no_grad():
        for p in unet.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    unet.save_pretrained(os.path.join(args.out, "unet"))
    DDPMScheduler(num_train_timesteps=1000).save_pretrained(os.path.join(args.out, "scheduler"))
    with open(os.path.join(args.out, "model_index.json"), "w") as f:
        json.dump({"_class_name": "DDPMPipeline", "scheduler": ["diffusers", "DDPMScheduler"],
                   "unet": ["diffusers", type(unet).__name__]}, f, indent=2)
    print(f"tiny {args.kind} {type(unet).__name__} ({sum(p.numel() for p in unet.parameters())} parameters) "
          f"in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
