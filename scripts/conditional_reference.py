#!/usr/bin/env python3
"""Reference outputs of conditional sampling with classifier-free guidance, for the parity tests.

    .venv/bin/python scripts/conditional_reference.py CLASS_SRC CROSS_SRC OUT_DIR

CLASS_SRC is a diffusers pipeline folder with a class-conditional UNet2DModel and CROSS_SRC one
with a UNet2DConditionModel (scripts/make_tiny_unet.py --kind class / --kind cross). Writes
OUT_DIR/reference.json (the cases) and OUT_DIR/reference.safetensors (their tensors):

- cross: diffusers' StableDiffusionPipeline(vae=None, text_encoder=None, tokenizer=None,
  safety_checker=None, requires_safety_checker=False) with the folder's UNet and scheduler config
  (DDIMScheduler.from_config, or DPMSolverMultistepScheduler.from_config), called with
  prompt_embeds and negative_prompt_embeds (both: without a tokenizer the negative ones are
  required), output_type="latent", height and width = 8 x sample_size (the pipeline's VAE factor
  without a VAE), guidance_scale, guidance_rescale, eta, and generator
  torch.Generator().manual_seed(seed): the final latents. The pipeline's constructor rewrites the
  scheduler config's steps_offset to 1 and clip_sample to False; each case records the config the
  pipeline ran ("scheduler_config"), which the tests build their scheduler from.
- class: diffusers has no class-conditional UNet2DModel pipeline, so the loop is
  StableDiffusionPipeline's written out over UNet2DModel(sample, t, class_labels) and
  DDIMScheduler: latents from randn_tensor with the seeded generator, per step one UNet call on
  torch.cat([latents] * 2) with torch.cat([null labels, labels]) when guidance_scale > 1, then
  uncond + guidance_scale * (cond - uncond), diffusers' rescale_noise_cfg when guidance_rescale > 0,
  scheduler.step(..., eta=eta, generator=generator); the images decoded as DDIMPipeline decodes
  them, (x / 2 + 0.5).clamp(0, 1) as [B, H, W, C]. Class 4 is the null class.
- Both at eta 0 and 1, batch 1 and 3, with guidance (and rescale), and without (scale 1).
"""
import json
import os
import sys
import warnings

import torch
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, StableDiffusionPipeline, UNet2DConditionModel,
                       UNet2DModel)
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import rescale_noise_cfg
from diffusers.utils.torch_utils import randn_tensor
from safetensors.torch import save_file

NULL_CLASS = 4
STEPS = 10
SCHEDULERS = {"ddim": DDIMScheduler, "dpmsolver": DPMSolverMultistepScheduler}
# (scheduler, eta, batch, guidance_scale, guidance_rescale, scheduler config overrides)
CASES = [
    ("ddim", 0.0, 1, 3.0, 0.0, {}),
    ("ddim", 0.0, 3, 3.0, 0.0, {}),
    ("ddim", 1.0, 1, 3.0, 0.0, {}),
    ("ddim", 1.0, 3, 3.0, 0.7, {}),
    ("ddim", 0.0, 3, 1.0, 0.0, {}),
    # The DDIMScheduler page's tips: zero terminal SNR (with v-prediction, which it needs), trailing
    # spacing and guidance_rescale 0.7.
    ("ddim", 0.0, 3, 3.0, 0.7, {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing",
                                "prediction_type": "v_prediction"}),
    ("dpmsolver", 0.0, 3, 3.0, 0.7, {}),
]


def scheduler_for(src, kind, overrides):
    config = dict(DDIMScheduler.load_config(src, subfolder="scheduler"))
    config.update(overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SCHEDULERS[kind].from_config(config)


def config_of(scheduler):
    """The config as diffusers writes it (bare Infinity and NaN, as in DPM-Solver's lambda_min_clipped), kept as
    one string so that reference.json stays strict JSON."""
    config = {k: v for k, v in dict(scheduler.config).items() if not k.startswith("_")}
    config["_class_name"] = type(scheduler).__name__
    return json.dumps(config)


def seed_of(index):
    return 2000 + index


def cross_cases(src, tensors, doc):
    unet = UNet2DConditionModel.from_pretrained(src, subfolder="unet").eval()
    gen = torch.Generator().manual_seed(11)
    length, width = 8, unet.config.cross_attention_dim
    embeds = torch.randn((3, length, width), generator=gen)
    negative = torch.randn((1, length, width), generator=gen)
    tensors["cross.embeds"] = embeds
    tensors["cross.negative_embeds"] = negative
    size = 8 * unet.config.sample_size
    for i, (kind, eta, batch, scale, rescale, overrides) in enumerate(CASES):
        pipe = StableDiffusionPipeline(vae=None, text_encoder=None, tokenizer=None, unet=unet,
                                       scheduler=scheduler_for(src, kind, overrides), safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        kwargs = {"eta": eta} if kind == "ddim" else {}
        with torch.no_grad():
            latents = pipe(prompt_embeds=embeds[:batch], negative_prompt_embeds=negative.repeat(batch, 1, 1),
                           height=size, width=size, num_inference_steps=STEPS, guidance_scale=scale,
                           guidance_rescale=rescale, generator=torch.Generator().manual_seed(seed_of(i)),
                           output_type="latent", **kwargs).images
        name = f"cross.{i}"
        tensors[name] = latents.contiguous()
        # StableDiffusionPipeline.__init__ rewrites steps_offset to 1 and clip_sample to False: the
        # config it ran is the one to compare with.
        doc.append({"model": "cross", "tensor": name, "scheduler": kind, "eta": eta, "batch": batch,
                    "guidance_scale": scale, "guidance_rescale": rescale, "set": overrides, "seed": seed_of(i),
                    "steps": STEPS, "scheduler_config": config_of(pipe.scheduler)})


def class_cases(src, tensors, doc):
    unet = UNet2DModel.from_pretrained(src, subfolder="unet").eval()
    labels_all = torch.tensor([2, 0, 3])
    cfg = unet.config
    for i, (kind, eta, batch, scale, rescale, overrides) in enumerate(CASES):
        scheduler = scheduler_for(src, kind, overrides)
        generator = torch.Generator().manual_seed(seed_of(i))
        labels = labels_all[:batch]
        guided = scale > 1
        with torch.no_grad():
            latents = randn_tensor((batch, cfg.in_channels, cfg.sample_size, cfg.sample_size), generator=generator,
                                   dtype=torch.float32)
            latents = latents * scheduler.init_noise_sigma
            scheduler.set_timesteps(STEPS)
            both = torch.cat([torch.full((batch,), NULL_CLASS), labels]) if guided else labels
            for t in scheduler.timesteps:
                model_input = torch.cat([latents] * 2) if guided else latents
                model_input = scheduler.scale_model_input(model_input, t)
                noise_pred = unet(model_input, t, class_labels=both).sample
                if guided:
                    noise_pred_uncond, noise_pred_cond = noise_pred.chunk(2)
                    noise_pred = noise_pred_uncond + scale * (noise_pred_cond - noise_pred_uncond)
                    if rescale > 0:
                        noise_pred = rescale_noise_cfg(noise_pred, noise_pred_cond, guidance_rescale=rescale)
                step_kwargs = {"eta": eta, "generator": generator} if kind == "ddim" else {"generator": generator}
                latents = scheduler.step(noise_pred, t, latents, **step_kwargs).prev_sample
            images = (latents / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1)
        name = f"class.{i}"
        tensors[name] = images.contiguous()
        doc.append({"model": "class", "tensor": name, "scheduler": kind, "eta": eta, "batch": batch,
                    "guidance_scale": scale, "guidance_rescale": rescale, "set": overrides, "seed": seed_of(i),
                    "steps": STEPS, "null_class": NULL_CLASS, "class_labels": labels.tolist(),
                    "scheduler_config": config_of(scheduler)})


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    class_src, cross_src, out = sys.argv[1:]
    tensors, doc = {}, []
    class_cases(class_src, tensors, doc)
    cross_cases(cross_src, tensors, doc)
    os.makedirs(out, exist_ok=True)
    save_file(tensors, os.path.join(out, "reference.safetensors"))
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump({"cases": doc}, f, indent=1)
    print(f"{len(doc)} conditional references in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
