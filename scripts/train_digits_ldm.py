#!/usr/bin/env python3
"""Train a tiny latent diffusion model on scikit-learn's digits: a VQModel, then a UNet2DModel on its latents.

    .venv/bin/python scripts/train_digits_ldm.py OUT [--vae-steps 1500] [--unet-steps 3000]
        [--export MODEL] [--threads N] [--seed 0]

What LDMPipeline runs (CompVis/ldm-celebahq-256's structure, scaled down), trained in minutes on a
2-core CPU, so that inversion through a VAE can be measured on real images:

1. A VQModel between the 32x32 digits (one channel, in [-1, 1], scripts/train_digits.py's seeded
   training split) and 3-channel 8x8 latents: three levels (16, 32, 32 channels), 256 codebook
   entries, the encoder's output quantized by the decoder, as VQModel.decode does. Loss: the
   reconstruction's mean squared error plus VQModel's commitment loss.
2. The latents' scaling_factor: one over the standard deviation of the training digits' latents
   (VQModel.encode(x).latents), so that the UNet sees latents of unit variance; written into the
   VQModel's config, where LDMPipeline reads it.
3. A UNet2DModel (32, 64 channels, attention at 4x4) predicting the noise of a DDPM forward
   process on those scaled latents (DDIMScheduler, scaled_linear betas 0.0015..0.0195 over 1000
   steps, as ldm-celebahq-256's config), with an EMA of its weights.

OUT is an LDMPipeline folder (unet/, vqvae/, scheduler/, model_index.json, training.json);
--export MODEL also exports it with scripts/export_model.py --format both. Seeded; on CPU repeatable
on one CPU kind and thread count. training.json records the VAE alone on the held-out digits
(encode, then decode: the PSNR any inversion through it is bounded by).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, UNet2DModel, VQModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_digits import SIZE, digits_dataset, learning_rate_factor  # noqa: E402

LATENT_SIZE = SIZE // 4


def make_vqmodel():
    return VQModel(in_channels=1, out_channels=1, latent_channels=3, num_vq_embeddings=256, norm_num_groups=8,
                   block_out_channels=(16, 32, 32), layers_per_block=1, sample_size=SIZE,
                   down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3)


def make_unet():
    return UNet2DModel(sample_size=LATENT_SIZE, in_channels=3, out_channels=3, block_out_channels=(32, 64),
                       layers_per_block=1, norm_num_groups=16, attention_head_dim=16,
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"))


def make_scheduler():
    return DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.0015,
                         beta_end=0.0195, clip_sample=False, set_alpha_to_one=False, steps_offset=1)


def psnr(a, b):
    """Per image, of [-1, 1] images seen as [0, 1]."""
    mse = ((a.clamp(-1, 1) - b) / 2).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(1 / mse.clamp_min(1e-12))).tolist()


def train(model, steps, lr, warmup, batches, loss_of, seed, ema=None, label=""):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: learning_rate_factor(s, steps, warmup))
    gen = torch.Generator().manual_seed(seed)
    start = time.time()
    model.train()
    for step in range(steps):
        loss = loss_of(batches(gen), gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if ema is not None:
            with torch.no_grad():
                decay = min(0.999, (1 + step) / (10 + step))
                for pe, p in zip(ema.parameters(), model.parameters()):
                    pe.mul_(decay).add_(p, alpha=1 - decay)
        if step % 250 == 0 or step == steps - 1:
            print(f"{label} step {step:5d}  loss {loss.item():.4f}  {time.time() - start:7.1f} s", flush=True)
    model.eval()
    return (time.time() - start) / 60


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="LDMPipeline folder to write")
    parser.add_argument("--vae-steps", type=int, default=1500)
    parser.add_argument("--unet-steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: every core)")
    parser.add_argument("--export", default="", metavar="MODEL", help="also export to this ddim model folder")
    args = parser.parse_args()
    if min(args.vae_steps, args.unet_steps, args.batch_size) < 1 or args.threads < 0:
        parser.error("--vae-steps, --unet-steps and --batch-size must be >= 1, --threads >= 0")
    if os.path.exists(args.out) and os.listdir(args.out):
        parser.error(f"{args.out} exists and is not empty")

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    (train_x, _), (held_x, _) = digits_dataset(args.seed)

    def batch_of(data):
        return lambda gen: data[torch.randint(0, len(data), (args.batch_size,), generator=gen)]

    vae = make_vqmodel()

    def vae_loss(x, gen):
        out = vae.decode(vae.encode(x).latents)
        return F.mse_loss(out.sample, x) + out.commit_loss.mean()

    vae_minutes = train(vae, args.vae_steps, 1e-3, 100, batch_of(train_x), vae_loss, args.seed + 1, label="vqvae")
    with torch.no_grad():
        latents = torch.cat([vae.encode(train_x[i:i + 256]).latents for i in range(0, len(train_x), 256)])
        scaling_factor = float(1.0 / latents.std())
        held_back = torch.cat([vae.decode(vae.encode(held_x[i:i + 256]).latents).sample
                               for i in range(0, len(held_x), 256)])
    vae_psnr = sorted(psnr(held_back, held_x))
    vae.register_to_config(scaling_factor=scaling_factor)
    print(f"VQModel: scaling_factor {scaling_factor:.4f}; held-out digits encoded and decoded: median PSNR "
          f"{vae_psnr[len(vae_psnr) // 2]:.2f} dB", flush=True)

    scaled = latents * scaling_factor
    unet, ema = make_unet(), make_unet()
    ema.load_state_dict(unet.state_dict())
    ema.requires_grad_(False)
    scheduler = make_scheduler()

    def unet_loss(z0, gen):
        noise = torch.randn(z0.shape, generator=gen)
        t = torch.randint(0, 1000, (len(z0),), generator=gen)
        return F.mse_loss(unet(scheduler.add_noise(z0, noise, t), t).sample, noise)

    unet_minutes = train(unet, args.unet_steps, 2e-3, 200, batch_of(scaled), unet_loss, args.seed + 2, ema=ema,
                         label="unet")

    os.makedirs(args.out, exist_ok=True)
    vae.save_pretrained(os.path.join(args.out, "vqvae"))
    ema.save_pretrained(os.path.join(args.out, "unet"))
    scheduler.save_pretrained(os.path.join(args.out, "scheduler"))
    with open(os.path.join(args.out, "model_index.json"), "w") as f:
        json.dump({"_class_name": "LDMPipeline", "scheduler": ["diffusers", "DDIMScheduler"],
                   "unet": ["diffusers", "UNet2DModel"], "vqvae": ["diffusers", "VQModel"]}, f, indent=2)
    training = {"vae_steps": args.vae_steps, "unet_steps": args.unet_steps, "batch_size": args.batch_size,
                "seed": args.seed, "threads": torch.get_num_threads(), "torch_version": torch.__version__,
                "vae_minutes": round(vae_minutes, 2), "unet_minutes": round(unet_minutes, 2),
                "scaling_factor": scaling_factor, "held_out_digits": len(held_x),
                "vae_alone_psnr_db": {"median": round(vae_psnr[len(vae_psnr) // 2], 3),
                                      "worst": round(vae_psnr[0], 3)}}
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(training, f, indent=2)
    print(f"trained in {vae_minutes + unet_minutes:.1f} min; saved {args.out}", flush=True)
    if args.export:
        here = os.path.dirname(os.path.abspath(__file__))
        subprocess.run([sys.executable, os.path.join(here, "export_model.py"), args.out, args.export,
                        "--format", "both", "--overwrite"], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
