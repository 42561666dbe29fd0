#!/usr/bin/env python3
"""Export a diffusers pipeline folder (its UNet, and its VAE where it has one) to a ddim model folder.

    .venv/bin/python scripts/export_model.py SRC OUT [--format aoti|torchscript|both] [--overwrite]
        [export_unet.py's options: --device, --dtype, --march, --threads, --null-class,
         --guidance-scale, --sequence-length, --static-batches]

SRC is a local diffusers pipeline folder, as its model_index.json names it:

    DDPMPipeline, DDIMPipeline       unet/ (UNet2DModel) + scheduler/: what scripts/export_unet.py writes
    LDMPipeline                      unet/ (UNet2DModel) + vqvae/ (VQModel) + scheduler/
    StableDiffusionPipeline          unet/ (UNet2DConditionModel) + vae/ (AutoencoderKL) + scheduler/,
                                     and text_encoder/ (CLIPTextModel) + tokenizer/ where it has them

OUT is the ddim model folder, in diffusers' layout: what scripts/export_unet.py writes for the UNet
and scheduler, plus for a latent model

    OUT/vqvae/ or OUT/vae/   config.json (the VAE's, scaling_factor and latent_channels kept), and
                             as --format says (as for the UNet), model.pt2 and/or model.pt:
                               encode(images[B,3,H,W] in [-1, 1]) -> VQModel: the latents before
                                 quantization (VQModel.encode(x).latents); AutoencoderKL: the
                                 moments [B, 2C, h, w] (mean, then log-variance) the posterior
                                 latent_dist is made of
                               decode(latents[B,C,h,w]) -> images [B,3,H,W] (VQModel: quantized
                                 first, as VQModel.decode does)
                             model.pt2 (AOTInductor, float32, CPU) holds each at batch 1 and over a
                             dynamic batch: encode_batch1, encode_batched, decode_batch1,
                             decode_batched; model.pt (TorchScript, portable) has the methods
                             encode and decode
    OUT/text_encoder/        config.json and model.pt2: the CLIPTextModel compiled by AOTInductor
                             (scripts/export_text_encoder.py: input_ids [1, L] -> every hidden state
                             through the final layer norm, [layers + 1, 1, L, D], for clip_skip)
    OUT/tokenizer/           vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json
    OUT/model_index.json     the source's pipeline class and components
    OUT/ddim_export.json     with "vae": the component, class, scaling_factor, latent_channels, the
                             downsampling factor, the image size and the largest difference from eager

The latents' scaling factor is the VAE config's (or --vae-scaling-factor). One exception: an
LDMPipeline VQModel whose config gives none (CompVis/ldm-celebahq-256) gets 1.0, what it was trained
with, rather than VQModel's default 0.18215, with which diffusers decodes it wrongly (diffusers issue
6725); ddim_export.json says where the factor came from.

The VAE is exported in float32 whatever --dtype says (--dtype float32,bfloat16 gives the UNet a
package per dtype, as export_unet.py); the size is static: the UNet's sample_size times the VAE's
downsampling factor (recorded; other sizes are refused by the loader). shift_factor and force_upcast are used only by SD3/Flux and SDXL pipelines:
they are recorded, and a folder of such a pipeline is refused. Each artifact is checked against
eager before anything is written, and OUT is written under a temporary name and renamed.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import warnings

import torch
import diffusers
from diffusers import AutoencoderKL, VQModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_unet  # noqa: E402
from export_text_encoder import check_text_side, export_text_encoder  # noqa: E402
from export_unet import ExportError  # noqa: E402

# The pipelines exported, with the VAE component each has (None: pixel space).
PIPELINES = {"DDPMPipeline": None, "DDIMPipeline": None, "LDMPipeline": "vqvae", "StableDiffusionPipeline": "vae"}
VAE_CLASSES = {"VQModel": VQModel, "AutoencoderKL": AutoencoderKL}
# Components a pipeline folder may name that export_model.py does not export (or, for the text
# encoder and tokenizer, exports only as a pair: a folder with one of them is exported without either).
NOT_EXPORTED = {"text_encoder", "tokenizer", "safety_checker", "feature_extractor", "image_encoder"}


class VAEMethods(torch.nn.Module):
    """encode(images) -> latents (VQ) or moments (KL); decode(latents) -> images."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae
        self.kl = isinstance(vae, AutoencoderKL)

    def encode(self, images):
        if self.kl:
            return self.vae._encode(images)  # the moments DiagonalGaussianDistribution splits
        return self.vae.encode(images, return_dict=False)[0]

    def decode(self, latents):
        return self.vae.decode(latents, return_dict=False)[0]


def read_index(src):
    path = os.path.join(src, "model_index.json")
    if not os.path.isfile(path):
        raise ExportError(f"{src} has no model_index.json: export_model.py takes a diffusers pipeline folder "
                          "(for a lone UNet use export_unet.py)")
    try:
        index = json.load(open(path))
    except ValueError as e:
        raise ExportError(f"{path} is not JSON: {e}") from e
    name = index.get("_class_name")
    if name not in PIPELINES:
        raise ExportError(f"{path}: pipeline {name!r} is not one of {', '.join(PIPELINES)} "
                          "(SDXL, SD3 and Flux pipelines need shift_factor, force_upcast or inputs ddim does not give)")
    for component, value in index.items():
        if component.startswith("_") or not isinstance(value, list) or value[1] is None:
            continue
        if not os.path.isdir(os.path.join(src, component)) and component not in NOT_EXPORTED:
            raise ExportError(f"{path} names component {component!r} ({value[1]}), but {src}/{component} is missing")
    vae_component = PIPELINES[name]
    if vae_component and not os.path.isdir(os.path.join(src, vae_component)):
        raise ExportError(f"{name} needs {src}/{vae_component}, which is missing")
    return index, name, vae_component


def has_text_encoder(src, index, pipeline):
    """Whether the folder's text encoder and tokenizer are exported: a StableDiffusionPipeline whose
    model_index.json names both and whose folder has both."""
    named = all(isinstance(index.get(c), list) and index[c][1] is not None for c in ("text_encoder", "tokenizer"))
    present = all(os.path.isdir(os.path.join(src, c)) for c in ("text_encoder", "tokenizer"))
    return pipeline == "StableDiffusionPipeline" and named and present


def load_vae(src, component):
    config = VQModel.load_config(os.path.join(src, component))
    name = config.get("_class_name")
    if name not in VAE_CLASSES:
        raise ExportError(f"{src}/{component}: the VAE's _class_name is {name!r}, not one of {', '.join(VAE_CLASSES)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return VAE_CLASSES[name].from_pretrained(src, subfolder=component).eval()


def downsampling_factor(vae):
    return 2 ** (len(vae.config.block_out_channels) - 1)


class VAEPart(torch.nn.Module):
    """One of VAEMethods' methods as forward, for torch.export."""

    def __init__(self, methods, name):
        super().__init__()
        self.methods = methods
        self.name = name

    def forward(self, x):
        return getattr(self.methods, self.name)(x)


def vae_inputs(image_shape, latent_shape, batch, gen):
    """{"encode": images in [-1, 1], "decode": latents} of `batch`."""
    return {"encode": torch.rand((batch, *image_shape), generator=gen) * 2 - 1,
            "decode": torch.randn((batch, *latent_shape), generator=gen)}


# A compiled VAE's largest allowed difference from eager, per unit of output magnitude: in a decoded
# image in [-1, 1] it is 0.06 of a uint8 level. The ldm-celebahq-sized VQModel's dynamic-batch decoder
# differed by 7.0e-4 at outputs up to 3.19 (2.2e-4 relative; AMD EPYC Zen 4, float32), past the UNet's
# 1e-4; the tiny test VAEs differ by 1.7e-6 to 3.1e-6.
VAE_TOLERANCE = 1e-3


def check_vae(run, wrapper, image_shape, latent_shape, what, batches=(1, 3), methods=("encode", "decode")):
    """Largest absolute difference of run(method, x) from eager for each of `methods`, over `batches`.

    The bound is VAE_TOLERANCE times the eager output's largest magnitude where that exceeds 1: a
    float32 error grows with the values and the depth, and a deep decoder with random weights (the
    benchmark's ldm-celebahq-sized VQModel decodes to |x| up to 3.2) gives values past the [-1, 1] of
    images."""
    gen = torch.Generator().manual_seed(1)
    worst = 0.0
    scale = 1.0
    with torch.no_grad():
        for batch in batches:
            for method, x in vae_inputs(image_shape, latent_shape, batch, gen).items():
                if method not in methods:
                    continue
                a, b = run(method, x), getattr(wrapper, method)(x)
                if a.shape != b.shape:
                    raise ExportError(f"{what} {method} gives {tuple(a.shape)}, eager {tuple(b.shape)}")
                worst = max(worst, (a - b).abs().max().item())
                scale = max(scale, b.abs().max().item())
    bound = VAE_TOLERANCE * scale
    if not worst <= bound:
        raise ExportError(f"{what} differs from eager by {worst:.3g} (> {bound:.3g}: "
                          f"{VAE_TOLERANCE} times the output's largest magnitude, {scale:.3g})")
    return worst


def trace_vae(wrapper, path, image_shape, latent_shape):
    """TorchScript: one module with the methods encode and decode, saved to path after the check."""
    example = {m: (x,) for m, x in vae_inputs(image_shape, latent_shape, 2, torch.Generator().manual_seed(0)).items()}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace_module(wrapper, example, check_trace=False)
    worst = check_vae(lambda m, x: getattr(traced, m)(x), wrapper, image_shape, latent_shape, "traced VAE")
    traced.save(path)
    return {"max_abs_error": worst}


def compile_vae(wrapper, path, image_shape, latent_shape, device, march, threads):
    """AOTInductor: encode and decode, each at batch 1 and over a dynamic batch (as the UNet's package),
    in one package at path: models encode_batch1, encode_batched, decode_batch1, decode_batched."""
    from torch._inductor import aot_compile
    from torch._inductor.package import load_package, package_aoti

    n_threads = threads or torch.get_num_threads()
    configs, metadata, cpu_features, vec_isa = export_unet.package_settings(device, "float32", march, n_threads)
    metadata.update({"ddim.kind": "vae", "ddim.vae_class": type(wrapper.vae).__name__})
    files, ranges = {}, {}
    with export_unet.torch_threads(n_threads), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in ("encode", "decode"):
            part = VAEPart(wrapper, method).eval()
            gen = torch.Generator().manual_seed(0)
            one = vae_inputs(image_shape, latent_shape, 1, gen)[method]
            two = vae_inputs(image_shape, latent_shape, 2, gen)[method]
            programs = {f"{method}_batch1": torch.export.export(part, (one,)),
                        # An example batch >= 2: torch.export specializes a dimension of size 1.
                        f"{method}_batched": torch.export.export(part, (two,),
                                                                 dynamic_shapes=({0: torch.export.Dim.AUTO},))}
            for name, ep in programs.items():
                ranges[name] = export_unet.batch_range(ep, "x")
                options = dict(configs, **{"aot_inductor.metadata": dict(
                    metadata, **{"ddim.batch_min": str(ranges[name][0]), "ddim.batch_max": str(ranges[name][1])})})
                files[name] = aot_compile(ep.module(), ep.example_inputs[0], options=options)
        package_aoti(path, files)
    models = {name: load_package(path, name) for name in files}
    worst = 0.0
    for method in ("encode", "decode"):
        lo, hi = ranges[f"{method}_batched"]
        for suffix, batches in (("batch1", (1,)), ("batched", (lo, min(hi, lo + 1)))):
            name = f"{method}_{suffix}"
            worst = max(worst, check_vae(lambda m, x: models[name](x), wrapper, image_shape, latent_shape,
                                         f"VAE package model {name}", batches, methods=(method,)))
    meta = {"max_abs_error": worst, "cpu_features": cpu_features, "threads": n_threads,
            "batched_range": {m: list(ranges[f"{m}_batched"]) for m in ("encode", "decode")},
            "package_models": sorted(files)}
    if device == "cpu":
        meta.update(march=march, vec_isa=vec_isa)
    return meta


def scaling_factor(src, component, pipeline, vae, override):
    """(the latents' scaling factor, why). LDMPipeline divides by vqvae.config.scaling_factor; a VQModel
    config that gives none gets VQModel's default 0.18215, Stable Diffusion's KL factor, and decodes
    wrongly in diffusers (CompVis/ldm-celebahq-256, trained unscaled: diffusers issue 6725). Such a
    checkpoint gets 1.0, what it was trained with."""
    if override is not None:
        if not override > 0:
            raise ExportError(f"--vae-scaling-factor {override}: must be > 0")
        return override, "--vae-scaling-factor"
    given = "scaling_factor" in json.load(open(os.path.join(src, component, "config.json")))
    if pipeline == "LDMPipeline" and not given:
        return 1.0, ("1.0: the VQModel config gives no scaling_factor, and VQModel's default 0.18215 decodes such "
                     "LDM checkpoints wrongly (diffusers issue 6725)")
    return vae.config.scaling_factor, "the VAE's config" if given else "the VAE class's default"


def export_vae(src, component, folder, unet_config, pipeline, scaling_override=None, formats=("torchscript",),
               device="cpu", march="native", threads=0):
    """Writes folder/<component>/config.json and, per format, model.pt (TorchScript) or model.pt2
    (AOTInductor); returns ddim_export.json's "vae" record."""
    vae = load_vae(src, component)
    config = vae.config
    factor_value, factor_source = scaling_factor(src, component, pipeline, vae, scaling_override)
    if config.latent_channels != unet_config["in_channels"]:
        raise ExportError(f"{src}/{component}: the VAE's latent_channels {config.latent_channels} do not match "
                          f"the UNet's in_channels {unet_config['in_channels']}")
    if config.get("norm_type", "group") != "group" or config.get("lookup_from_codebook", False):
        raise ExportError(f"{src}/{component}: VQModel norm_type {config.get('norm_type')!r} / lookup_from_codebook "
                          f"{config.get('lookup_from_codebook')!r} is not exported (only 'group' / false)")
    if device != "cpu" and "aoti" in formats:
        raise ExportError(f"--device {device} --format {'/'.join(formats)}: AOTInductor packages are made for the "
                          "CPU in this version; use --format torchscript")
    factor = downsampling_factor(vae)
    size = unet_config["sample_size"]
    latent_hw = (size, size) if isinstance(size, int) else tuple(size)
    image_hw = tuple(s * factor for s in latent_hw)
    image_shape = (config.in_channels, *image_hw)
    latent_shape = (config.latent_channels, *latent_hw)
    wrapper = VAEMethods(vae).eval()
    out = os.path.join(folder, component)
    os.makedirs(out)
    record = {"component": component, "class": type(vae).__name__, "formats": list(formats),
              "scaling_factor": factor_value, "scaling_factor_source": factor_source,
              "shift_factor": config.get("shift_factor"), "force_upcast": config.get("force_upcast"),
              "latent_channels": config.latent_channels, "in_channels": config.in_channels,
              "out_channels": config.out_channels, "downsampling_factor": factor, "image_size": list(image_hw),
              "latent_size": list(latent_hw)}
    for fmt in formats:
        path = os.path.join(out, export_unet.ARTIFACT[fmt])
        record[fmt] = (trace_vae(wrapper, path, image_shape, latent_shape) if fmt == "torchscript" else
                       compile_vae(wrapper, path, image_shape, latent_shape, device, march, threads))
    vae_config = dict(config)
    vae_config["_class_name"] = type(vae).__name__
    vae_config["scaling_factor"] = factor_value
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(vae_config, f, indent=2, sort_keys=True)
    return record


def export(args):
    src, out = args.src, args.out
    if not os.path.isdir(src):
        raise ExportError(f"{src} is not a folder: export_model.py takes a local diffusers pipeline folder")
    if os.path.exists(out) and os.listdir(out) and not args.overwrite:
        raise ExportError(f"{out} exists and is not empty (pass --overwrite to replace it)")
    if os.path.abspath(out) == os.path.abspath(src):
        raise ExportError(f"{out} is the source folder: the export would replace its input")
    index, pipeline, vae_component = read_index(src)
    text_side = (check_text_side(src, args.device, args.sequence_length)
                 if has_text_encoder(src, index, pipeline) else None)
    parent = os.path.dirname(os.path.abspath(out)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-model-", dir=parent)
    try:
        folder = os.path.join(tmp, "model")
        meta = export_unet.export(src, folder, args.device, args.dtype, export_unet.FORMATS[args.format], False,
                                  args.march, args.threads, args.null_class, args.guidance_scale,
                                  args.sequence_length, args.static_batches)
        if vae_component:
            unet_config = json.load(open(os.path.join(folder, "unet", "config.json")))
            meta["vae"] = export_vae(src, vae_component, folder, unet_config, pipeline, args.vae_scaling_factor,
                                     export_unet.FORMATS[args.format], args.device, args.march, args.threads)
            meta["pipeline"] = pipeline
            with open(os.path.join(folder, "ddim_export.json"), "w") as f:
                json.dump(meta, f, indent=2)
            written = json.load(open(os.path.join(folder, "model_index.json")))
            written["_class_name"] = pipeline
            written[vae_component] = ["diffusers", meta["vae"]["class"]]
            if text_side:
                meta["text_encoder"] = export_text_encoder(src, folder, args.device, args.march, args.threads,
                                                           text_side)
                written.update(text_encoder=["transformers", "CLIPTextModel"], tokenizer=["transformers", "CLIPTokenizer"])
                with open(os.path.join(folder, "ddim_export.json"), "w") as f:
                    json.dump(meta, f, indent=2)
            with open(os.path.join(folder, "model_index.json"), "w") as f:
                json.dump(written, f, indent=2)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(folder, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta


def main():
    diffusers.utils.logging.set_verbosity_error()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", help="local diffusers pipeline folder (model_index.json)")
    parser.add_argument("out", help="ddim model folder to write")
    parser.add_argument("--format", default="aoti", choices=list(export_unet.FORMATS),
                        help="the UNet's and the VAE's artifact(s), as export_unet.py")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="float32",
                        help=f"the UNet's: {', '.join(export_unet.DTYPES)}, or a comma-separated list of them for "
                             "--format aoti (a package per dtype); the VAE is float32 whatever this says")
    parser.add_argument("--march", default="native")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--null-class", type=int, default=None)
    parser.add_argument("--guidance-scale", type=float, default=None)
    parser.add_argument("--sequence-length", type=int, default=export_unet.SEQUENCE_LENGTH)
    parser.add_argument("--static-batches", type=export_unet.parse_static_batches, default=(), metavar="N[,N...]",
                        help="the UNet's, as export_unet.py: static models for these batch sizes")
    parser.add_argument("--vae-scaling-factor", type=float, default=None,
                        help="the latents' scaling factor, in place of the VAE config's")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    args = parser.parse_args()
    try:
        meta = export(args)
    except ExportError as e:
        print(f"export_model: {e}", file=sys.stderr)
        return 1
    vae = meta.get("vae")
    errors = ", ".join(f"{fmt} error {vae[fmt]['max_abs_error']:.2g}" for fmt in vae["formats"]) if vae else ""
    what = f" with {vae['class']} ({vae['component']}/, {errors})" if vae else ""
    if "text_encoder" in meta:
        what += f" and CLIPTextModel (text_encoder/, error {meta['text_encoder']['error']:.2g})"
    print(f"exported {args.src} to {args.out}: {meta.get('pipeline', 'UNet')}{what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
