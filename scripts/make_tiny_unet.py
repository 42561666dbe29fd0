#!/usr/bin/env python3
"""A tiny seeded UNet and a DDPMScheduler config, saved as a diffusers pipeline folder.

    .venv/bin/python scripts/make_tiny_unet.py OUT [--seed 0] [--kind unconditional|class|cross|ldm|sd]
        [--tokenizer DIR]

unconditional: a UNet2DModel, 16x16 RGB, two resolution levels with one attention block: small
enough for tests, with every kind of layer the pipelines meet (ResNet, attention, down/up sampling,
time embedding). class: the same with a class embedding table of 5 rows (num_class_embeds; the
tests treat row 4 as the null class). cross: a UNet2DConditionModel on 4-channel 8x8 latents with
cross-attention to encoder_hidden_states of width 16, as Stable Diffusion's UNet in miniature. ldm:
LDMPipeline's folder in miniature (unet/, vqvae/, scheduler/ with a DDIMScheduler, as
CompVis/ldm-celebahq-256 has): a UNet2DModel on 3-channel 8x8 latents and a VQModel between them and
16x16 RGB images (32 codebook entries, an explicit scaling_factor of 0.5 rather than VQModel's
default). sd: StableDiffusionPipeline's UNet and VAE in miniature (unet/ as --kind cross, vae/ an
AutoencoderKL between its 4-channel 8x8 latents and 16x16 RGB, scaling_factor 0.5, no text encoder or
tokenizer). sd with --tokenizer DIR (a CLIP tokenizer folder, scripts/make_clip_vocab.py): also
text_encoder/, a transformers CLIPTextModel of width 16 (two layers) over that vocabulary, and
tokenizer/, a copy of DIR. The weights are random (seeded), so outputs are deterministic but not
images of anything.
"""
import argparse
import json
import os
import sys

import torch
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet2DConditionModel, UNet2DModel, VQModel

# --kind class: rows of the class embedding; the last one stands for the null class.
TINY_CLASSES = 5
# --kind ldm and sd: the VAE's latent scaling, set explicitly (VQModel's default, 0.18215, is Stable
# Diffusion's KL factor, which LDMPipeline divides by).
TINY_VAE_SCALING = 0.5


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
    # ldm: the same UNet on the VQModel's 3-channel 8x8 latents.
    return UNet2DModel(
        sample_size=8 if kind == "ldm" else 16,
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


def make_vae(kind):
    """16x16 RGB <-> 8x8 latents, one downsampling level, diffusers' own init. ldm: a VQModel on 3
    channels with a codebook of 32; sd: an AutoencoderKL on 4 (its encoder gives mean and log-variance)."""
    shared = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                  up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), layers_per_block=1,
                  norm_num_groups=4, sample_size=16, scaling_factor=TINY_VAE_SCALING)
    if kind == "ldm":
        return VQModel(latent_channels=3, num_vq_embeddings=32, **shared)
    return AutoencoderKL(latent_channels=4, **shared)


def make_text_encoder(tokenizer_dir, width):
    """A two-layer CLIPTextModel of `width` over the tokenizer's vocabulary and positions."""
    from transformers import CLIPTextConfig, CLIPTextModel
    vocab = json.load(open(os.path.join(tokenizer_dir, "vocab.json")))
    length = json.load(open(os.path.join(tokenizer_dir, "tokenizer_config.json")))["model_max_length"]
    config = CLIPTextConfig(vocab_size=len(vocab), hidden_size=width, intermediate_size=2 * width,
                            num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=length,
                            bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                            pad_token_id=1)
    model = CLIPTextModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kind", choices=["unconditional", "class", "cross", "ldm", "sd"], default="unconditional")
    parser.add_argument("--tokenizer", help="--kind sd: a CLIP tokenizer folder; adds text_encoder/ and tokenizer/")
    args = parser.parse_args()
    if args.tokenizer and args.kind != "sd":
        parser.error(f"--tokenizer {args.tokenizer}: only --kind sd has a text encoder")
    torch.manual_seed(args.seed)
    unet = make_unet("cross" if args.kind == "sd" else args.kind)
    # Random init leaves some weights at zero (e.g. output convolutions); give every parameter
    # seeded values so the model's output depends on its input and timestep everywhere.
    with torch.no_grad():
        for p in unet.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    unet.save_pretrained(os.path.join(args.out, "unet"))
    if args.kind == "ldm":
        make_vae("ldm").save_pretrained(os.path.join(args.out, "vqvae"))
        DDIMScheduler(num_train_timesteps=1000, clip_sample=False).save_pretrained(os.path.join(args.out, "scheduler"))
        index = {"_class_name": "LDMPipeline", "scheduler": ["diffusers", "DDIMScheduler"],
                 "unet": ["diffusers", "UNet2DModel"], "vqvae": ["diffusers", "VQModel"]}
    elif args.kind == "sd":
        make_vae("sd").save_pretrained(os.path.join(args.out, "vae"))
        DDPMScheduler(num_train_timesteps=1000).save_pretrained(os.path.join(args.out, "scheduler"))
        index = {"_class_name": "StableDiffusionPipeline", "scheduler": ["diffusers", "DDPMScheduler"],
                 "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
                 "text_encoder": [None, None], "tokenizer": [None, None], "safety_checker": [None, None],
                 "feature_extractor": [None, None], "requires_safety_checker": False}
        if args.tokenizer:
            import shutil
            make_text_encoder(args.tokenizer, unet.config.cross_attention_dim).save_pretrained(
                os.path.join(args.out, "text_encoder"))
            shutil.copytree(args.tokenizer, os.path.join(args.out, "tokenizer"))
            index.update(text_encoder=["transformers", "CLIPTextModel"], tokenizer=["transformers", "CLIPTokenizer"])
    else:
        DDPMScheduler(num_train_timesteps=1000).save_pretrained(os.path.join(args.out, "scheduler"))
        index = {"_class_name": "DDPMPipeline", "scheduler": ["diffusers", "DDPMScheduler"],
                 "unet": ["diffusers", type(unet).__name__]}
    with open(os.path.join(args.out, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2)
    print(f"tiny {args.kind} {type(unet).__name__} ({sum(p.numel() for p in unet.parameters())} parameters) "
          f"in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
