#!/usr/bin/env python3
"""Reference outputs of latent models (a VAE between images and the UNet), for the parity tests.

    .venv/bin/python scripts/latent_reference.py LDM_SRC SD_SRC OUT_DIR

LDM_SRC is an LDMPipeline folder (unet/, vqvae/, scheduler/; scripts/make_tiny_unet.py --kind ldm),
SD_SRC a StableDiffusionPipeline folder without text encoder (unet/, vae/, scheduler/; --kind sd).
Writes OUT_DIR/reference.json (the cases) and OUT_DIR/reference.safetensors (their tensors):

- generate: diffusers' LDMPipeline(vqvae, unet, scheduler)(batch_size, eta, num_inference_steps,
  output_type="np") at eta 0 and 1, batch 1 and 3: the decoded images [B, H, W, C]. LDMPipeline passes
  no generator to scheduler.step, so its eta > 0 noise comes from torch's global generator; the
  reference seeds that (torch.manual_seed(seed)) and passes generator=None, which makes the starting
  noise and the step noise one stream of draws, as ddim's pipelines draw them from one generator.
  (LDMPipeline divides by vqvae.config.scaling_factor before decoding; the tiny model sets it.)
- invert: the loop written out over diffusers' components, as pix2pix-zero's invert runs it
  without its regularization: images in [0, 1] -> x = 2 images - 1 -> latents =
  vqvae.encode(x).latents * scaling_factor -> DDIMInverseScheduler.from_config(scheduler.config)
  steps -> the inverted latents; then DDIMScheduler steps back from them and
  vqvae.decode(latents / scaling_factor), decoded as the pipeline decodes: the reconstruction.
- sd: StableDiffusionPipeline(vae, unet, scheduler, text_encoder=None, tokenizer=None,
  safety_checker=None, requires_safety_checker=False) given prompt_embeds and
  negative_prompt_embeds, height and width the VAE's image size, guidance_scale, guidance_rescale,
  eta and generator torch.Generator().manual_seed(seed), output_type="np": the decoded images; and
  the AutoencoderKL's encoding of images, latent_dist.mode() and
  latent_dist.sample(torch.Generator().manual_seed(7)).
"""
import json
import os
import sys
import warnings

import torch
from diffusers import AutoencoderKL, DDIMInverseScheduler, DDIMScheduler, LDMPipeline, StableDiffusionPipeline
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conditional_reference import config_of  # noqa: E402

STEPS = 10
# (eta, batch)
GENERATE = [(0.0, 1), (0.0, 3), (1.0, 1), (1.0, 3)]
# StableDiffusionPipeline: (eta, batch, guidance_scale, guidance_rescale)
SD_CASES = [(0.0, 1, 3.0, 0.0), (1.0, 3, 3.0, 0.7)]
SEQUENCE_LENGTH = 8  # of the prompt embeddings (the export's --sequence-length)
ENCODE_SEED = 7


def sd_cases(src, tensors, cases):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unet = UNet2DConditionModel.from_pretrained(src, subfolder="unet").eval()
        vae = AutoencoderKL.from_pretrained(src, subfolder="vae").eval()
        scheduler = DDIMScheduler.from_pretrained(src, subfolder="scheduler")
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    gen = torch.Generator().manual_seed(12)
    embeds = torch.randn((3, SEQUENCE_LENGTH, unet.config.cross_attention_dim), generator=gen)
    negative = torch.randn((1, SEQUENCE_LENGTH, unet.config.cross_attention_dim), generator=gen)
    tensors["sd.embeds"], tensors["sd.negative_embeds"] = embeds, negative
    size = unet.config.sample_size * pipe.vae_scale_factor
    for i, (eta, batch, scale, rescale) in enumerate(SD_CASES):
        seed = 3000 + i
        with torch.no_grad():
            images = pipe(prompt_embeds=embeds[:batch], negative_prompt_embeds=negative.repeat(batch, 1, 1),
                          height=size, width=size, num_inference_steps=STEPS, guidance_scale=scale,
                          guidance_rescale=rescale, eta=eta, generator=torch.Generator().manual_seed(seed),
                          output_type="np").images
        name = f"sd.{i}"
        tensors[name] = torch.from_numpy(images).contiguous()
        # The pipeline's constructor rewrites steps_offset and clip_sample: compare with what it ran.
        cases.append({"kind": "sd", "tensor": name, "eta": eta, "batch": batch, "guidance_scale": scale,
                      "guidance_rescale": rescale, "seed": seed, "steps": STEPS,
                      "scheduler_config": config_of(pipe.scheduler)})
    images = torch.rand((2, size, size, 3), generator=torch.Generator().manual_seed(6))
    tensors["sd.encode.images"] = images.contiguous()
    with torch.no_grad():
        posterior = vae.encode(images.permute(0, 3, 1, 2).contiguous() * 2 - 1).latent_dist
        tensors["sd.encode.mode"] = posterior.mode().contiguous()
        tensors["sd.encode.sample"] = posterior.sample(torch.Generator().manual_seed(ENCODE_SEED)).contiguous()
    cases.append({"kind": "sd_encode", "images": "sd.encode.images", "mode": "sd.encode.mode",
                  "sample": "sd.encode.sample", "seed": ENCODE_SEED})


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    src, sd_src, out = sys.argv[1:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = LDMPipeline.from_pretrained(src)
    pipe.set_progress_bar_config(disable=True)
    if not isinstance(pipe.scheduler, DDIMScheduler):
        sys.exit(f"{src}: the scheduler is {type(pipe.scheduler).__name__}; the LDM reference runs DDIMScheduler")
    tensors, cases = {}, []
    for eta, batch in GENERATE:
        seed = 2000 + batch + int(eta * 10)
        torch.manual_seed(seed)
        images = pipe(batch_size=batch, generator=None, eta=eta, num_inference_steps=STEPS, output_type="np").images
        name = f"generate.eta{int(eta)}.b{batch}"
        tensors[name] = torch.from_numpy(images).contiguous()
        cases.append({"kind": "generate", "eta": eta, "batch": batch, "steps": STEPS, "seed": seed, "tensor": name})

    vqvae, unet, scaling = pipe.vqvae, pipe.unet, pipe.vqvae.config.scaling_factor
    size = unet.config.sample_size * 2 ** (len(vqvae.config.block_out_channels) - 1)
    images = torch.rand((2, size, size, 3), generator=torch.Generator().manual_seed(5))
    tensors["invert.images"] = images.contiguous()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inverse = DDIMInverseScheduler.from_config(pipe.scheduler.config)
        forward = DDIMScheduler.from_config(pipe.scheduler.config)
    with torch.no_grad():
        x = images.permute(0, 3, 1, 2).contiguous() * 2 - 1
        latents = vqvae.encode(x).latents * scaling
        tensors["invert.encoded"] = latents.contiguous()
        inverse.set_timesteps(STEPS)
        for t in inverse.timesteps:
            latents = inverse.step(unet(latents, t).sample, t, latents).prev_sample
        tensors["invert.latents"] = latents.contiguous()
        forward.set_timesteps(STEPS)
        for t in forward.timesteps:
            latents = forward.step(unet(latents, t).sample, t, latents).prev_sample
        tensors["invert.reconstructed_latents"] = latents.contiguous()
        decoded = vqvae.decode(latents / scaling).sample
        tensors["invert.reconstruction"] = (decoded / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).contiguous()
    cases.append({"kind": "invert", "steps": STEPS, "images": "invert.images", "encoded": "invert.encoded",
                  "latents": "invert.latents", "reconstructed_latents": "invert.reconstructed_latents",
                  "reconstruction": "invert.reconstruction"})
    sd_cases(sd_src, tensors, cases)
    os.makedirs(out, exist_ok=True)
    save_file(tensors, os.path.join(out, "reference.safetensors"))
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump({"cases": cases, "scaling_factor": scaling}, f, indent=1)
    print(f"{len(cases)} latent-model references in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
