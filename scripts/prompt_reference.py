#!/usr/bin/env python3
"""Reference prompt embeddings from the pinned diffusers and transformers, for the text-encoder tests.

    .venv/bin/python scripts/prompt_reference.py SRC OUT

SRC is a StableDiffusionPipeline folder with text_encoder/ and tokenizer/ (scripts/make_tiny_unet.py
--kind sd --tokenizer DIR). For each prompt below, OUT/reference.safetensors holds

    embeds_<i>           StableDiffusionPipeline.encode_prompt(prompt, "cpu", 1, False)[0]: [1, L, D]
    embeds_<i>_skip_<c>  the same with clip_skip c
    negative             encode_prompt's negative_prompt_embeds for the default negative prompt ("")
    image_<k>            StableDiffusionPipeline(prompt, negative_prompt, guidance_scale, ...,
                         output_type="np").images with a DDIMScheduler, for each of IMAGE_CASES

and OUT/reference.json the prompts, in order, and the image cases (with the scheduler config the
pipeline ran). diffusers 0.42.1's encode_prompt reads the final layer
norm from `text_encoder.text_model`, which transformers 5.x's CLIPTextModel no longer has (the norm is
`text_encoder.final_layer_norm`): with clip_skip it raises AttributeError. The clip_skip references are
therefore computed as encode_prompt's own lines compute them, with transformers' module in its place:
final_layer_norm(text_encoder(ids, output_hidden_states=True).hidden_states[-(clip_skip + 1)]).
"""
import json
import os
import sys
import warnings

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conditional_reference import config_of  # noqa: E402

PROMPTS = [
    "a photo of an astronaut riding a horse on mars",
    "",
    "Ünïcödé façade — naïve café, 東京の夜景, 🐱‍👤 and 3½ apples!",
    "word " * 120,  # past the 77 tokens: truncated
    "  spaces\tand\nnewlines   ",
]
CLIP_SKIPS = [1, 2]
# Whole pipeline runs from text: (prompt, negative_prompt, guidance_scale, clip_skip, seed).
IMAGE_CASES = [("a photo of an astronaut riding a horse on mars", None, 7.5, None, 41),
               ("a red cube", "blurry", 4.0, 1, 42)]
STEPS = 4


def main():
    src, out = sys.argv[1:3]
    from diffusers import StableDiffusionPipeline
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = StableDiffusionPipeline.from_pretrained(src, safety_checker=None, requires_safety_checker=False)
    encoder = pipe.text_encoder
    tensors = {}
    with torch.no_grad():
        for i, prompt in enumerate(PROMPTS):
            embeds, _ = pipe.encode_prompt(prompt, "cpu", 1, False)
            tensors[f"embeds_{i}"] = embeds.contiguous()
            ids = pipe.tokenizer(prompt, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                                 truncation=True, return_tensors="pt").input_ids
            states = encoder(ids, output_hidden_states=True).hidden_states
            for skip in CLIP_SKIPS:
                tensors[f"embeds_{i}_skip_{skip}"] = encoder.final_layer_norm(states[-(skip + 1)]).contiguous()
        _, negative = pipe.encode_prompt(PROMPTS[0], "cpu", 1, True)
        tensors["negative"] = negative.contiguous()
    from diffusers import DDIMScheduler
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    cases = []
    for k, (prompt, negative_prompt, scale, skip, seed) in enumerate(IMAGE_CASES):
        with torch.no_grad():
            if skip is None:
                images = pipe(prompt=prompt, negative_prompt=negative_prompt, height=size, width=size,
                              num_inference_steps=STEPS, guidance_scale=scale,
                              generator=torch.Generator().manual_seed(seed), output_type="np").images
            else:
                # encode_prompt's clip_skip path fails with transformers 5 (see above): its embeddings,
                # computed as those lines do, go in as prompt_embeds.
                ids = pipe.tokenizer(prompt, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                                     truncation=True, return_tensors="pt").input_ids
                states = encoder(ids, output_hidden_states=True).hidden_states
                embeds = encoder.final_layer_norm(states[-(skip + 1)])
                _, negative = pipe.encode_prompt(prompt, "cpu", 1, True, negative_prompt)
                images = pipe(prompt_embeds=embeds, negative_prompt_embeds=negative, height=size, width=size,
                              num_inference_steps=STEPS, guidance_scale=scale,
                              generator=torch.Generator().manual_seed(seed), output_type="np").images
        tensors[f"image_{k}"] = torch.from_numpy(images).contiguous()
        cases.append({"prompt": prompt, "negative_prompt": negative_prompt, "guidance_scale": scale,
                      "clip_skip": skip, "seed": seed, "steps": STEPS, "scheduler_config": config_of(pipe.scheduler)})
    os.makedirs(out, exist_ok=True)
    save_file(tensors, os.path.join(out, "reference.safetensors"))
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump({"prompts": PROMPTS, "clip_skips": CLIP_SKIPS, "image_cases": cases}, f, indent=2, ensure_ascii=False)
    print(f"{len(tensors)} reference embeddings in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
