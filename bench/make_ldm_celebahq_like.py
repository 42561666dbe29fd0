#!/usr/bin/env python3
"""An LDMPipeline with CompVis/ldm-celebahq-256's architecture (UNet2DModel on 3x64x64 latents,
VQModel f4 with 8192 codes, 256x256 images), seeded random weights, saved as a diffusers pipeline
folder: the latent benchmark's stand-in for that checkpoint, which cannot be downloaded here.
Speed depends on the architecture, not on the weights' values.

    .venv/bin/python bench/make_ldm_celebahq_like.py OUT [--seed 0]

The configs are those of the checkpoint's unet/, vqvae/ and scheduler/ folders (the UNet: LDM's
model_channels 224, channel_mult 1,2,3,4, attention at 8,4,2 with 32-channel heads; the VQModel:
LDM's vq-f4, embed_dim 3). The checkpoint's vqvae config has no scaling_factor (diffusers issue
6725), so neither has this one: scripts/export_model.py exports 1.0 and says so.
"""
import argparse
import json
import os
import sys

import torch
from diffusers import DDIMScheduler, LDMPipeline, UNet2DModel, VQModel


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    unet = UNet2DModel(
        sample_size=64, in_channels=3, out_channels=3, layers_per_block=2,
        block_out_channels=(224, 448, 672, 896),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=32, norm_num_groups=32, norm_eps=1e-5, act_fn="silu", flip_sin_to_cos=True,
        freq_shift=0, downsample_padding=1, center_input_sample=False, mid_block_scale_factor=1,
        time_embedding_type="positional",
    )
    vqvae = VQModel(
        in_channels=3, out_channels=3, latent_channels=3, num_vq_embeddings=8192, sample_size=256,
        block_out_channels=(128, 256, 512), layers_per_block=2,
        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
        norm_num_groups=32, act_fn="silu",
    )
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.0015,
                              beta_end=0.0195, clip_sample=False, set_alpha_to_one=True)
    LDMPipeline(vqvae=vqvae, unet=unet, scheduler=scheduler).save_pretrained(args.out)
    path = os.path.join(args.out, "vqvae", "config.json")
    config = json.load(open(path))
    del config["scaling_factor"]  # as the checkpoint's, written before VQModel had the option
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    count = lambda m: sum(p.numel() for p in m.parameters()) / 1e6
    print(f"saved {args.out}: UNet {count(unet):.1f} M parameters, VQModel {count(vqvae):.1f} M")
    return 0


if __name__ == "__main__":
    sys.exit(main())
