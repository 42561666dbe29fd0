#!/usr/bin/env python3
"""Export a diffusers UNet2DModel to TorchScript in a ddim model folder.

    .venv/bin/python scripts/export_unet.py SRC OUT [--device cpu|cuda] [--dtype float32|float16|bfloat16]

SRC is a hub id (downloaded where the hub is reachable; the local cache is honoured, so it works
offline once cached) or a local diffusers folder: a pipeline folder with unet/ and scheduler/, or a
bare UNet folder (config.json and weights). OUT becomes:

    OUT/model_index.json
    OUT/unet/config.json                  the UNet2DModel config
    OUT/unet/model.pt                     TorchScript: forward(sample[B,C,H,W], timestep[B] int64) -> output
    OUT/scheduler/scheduler_config.json   as saved with the source (a DDIMScheduler config when none)
    OUT/ddim_export.json                  what was exported: channels, size, dtype, device, versions

The trace is checked against the eager model on two batch sizes and two timesteps before anything
is written; the folder is written under a temporary name and renamed, so it is never half-written.
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
from diffusers import DDIMScheduler, UNet2DModel

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Traced against eager, the largest absolute difference allowed, per dtype.
TOLERANCE = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 5e-2}


class ExportError(Exception):
    pass


class UNetForward(torch.nn.Module):
    """forward(sample, timestep[B]) -> the UNet's output tensor (return_dict=False)."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep):
        return self.unet(sample, timestep, return_dict=False)[0]


def load_source(src):
    """(unet, scheduler config dict or None, description) from a hub id or a local folder."""
    if os.path.isdir(src):
        if os.path.isfile(os.path.join(src, "unet", "config.json")):
            unet = UNet2DModel.from_pretrained(src, subfolder="unet")
            path = os.path.join(src, "scheduler", "scheduler_config.json")
            scheduler = json.load(open(path)) if os.path.isfile(path) else None
            return unet, scheduler, f"local pipeline folder {src}"
        if os.path.isfile(os.path.join(src, "config.json")):
            return UNet2DModel.from_pretrained(src), None, f"local UNet folder {src}"
        raise ExportError(f"{src} is neither a pipeline folder (unet/config.json) nor a UNet folder (config.json)")
    try:
        unet = UNet2DModel.from_pretrained(src, subfolder="unet")
    except Exception:
        try:
            unet = UNet2DModel.from_pretrained(src)
        except Exception as e:
            raise ExportError(f"cannot load {src!r} as a hub id or a folder: {str(e).splitlines()[0]}") from e
    scheduler = None
    try:
        scheduler = dict(DDIMScheduler.load_config(src, subfolder="scheduler"))
    except Exception:
        pass
    return unet, scheduler, f"hub id {src}"


def sample_shape(config, batch):
    size = config["sample_size"]
    hw = (size, size) if isinstance(size, int) else tuple(size)
    return (batch, config["in_channels"], *hw)


def trace(unet, device, dtype_name):
    dtype = DTYPES[dtype_name]
    unet = unet.to(device=device, dtype=dtype).eval()
    wrapper = UNetForward(unet).eval()
    gen = torch.Generator().manual_seed(0)
    example = torch.randn(sample_shape(unet.config, 2), generator=gen).to(device, dtype)
    example_t = torch.tensor([999, 500], dtype=torch.int64, device=device)
    with torch.no_grad(), warnings.catch_warnings():
        # diffusers' shape assertions become constants in the trace; the check below is what counts.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(wrapper, (example, example_t), check_trace=False)
        # Traced against eager: two batch sizes, two timesteps.
        worst = 0.0
        for batch in (1, 3):
            x = torch.randn(sample_shape(unet.config, batch), generator=gen).to(device, dtype)
            for t in (10, 731):
                ts = torch.full((batch,), t, dtype=torch.int64, device=device)
                a = traced(x, ts).float()
                b = wrapper(x, ts).float()
                if a.shape != b.shape:
                    raise ExportError(f"traced output shape {tuple(a.shape)} != eager {tuple(b.shape)} "
                                      f"(batch {batch}, timestep {t})")
                worst = max(worst, (a - b).abs().max().item())
    if not worst <= TOLERANCE[dtype_name]:
        raise ExportError(f"traced model differs from eager by {worst:.3g} (> {TOLERANCE[dtype_name]}); "
                          "the UNet has shape- or value-dependent branches the trace cannot follow")
    return traced, worst


def export(src, out, device, dtype_name, overwrite=False):
    if device == "cuda" and not torch.cuda.is_available():
        raise ExportError("--device cuda needs a CUDA GPU visible to torch")
    if os.path.exists(out) and os.listdir(out) and not overwrite:
        raise ExportError(f"{out} exists and is not empty (pass --overwrite to replace it)")
    unet, scheduler, description = load_source(src)
    traced, worst = trace(unet, device, dtype_name)
    if scheduler is None:
        scheduler = dict(DDIMScheduler(num_train_timesteps=1000).config)
        scheduler["_class_name"] = "DDIMScheduler"
    scheduler = {k: v for k, v in scheduler.items() if k != "_use_default_values" or v}

    parent = os.path.dirname(os.path.abspath(out)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        os.makedirs(os.path.join(tmp, "unet"))
        os.makedirs(os.path.join(tmp, "scheduler"))
        unet_config = {k: v for k, v in dict(unet.config).items()}
        unet_config["_class_name"] = "UNet2DModel"
        with open(os.path.join(tmp, "unet", "config.json"), "w") as f:
            json.dump(unet_config, f, indent=2, sort_keys=True)
        traced.save(os.path.join(tmp, "unet", "model.pt"))
        with open(os.path.join(tmp, "scheduler", "scheduler_config.json"), "w") as f:
            json.dump(scheduler, f, indent=2, sort_keys=True)
        with open(os.path.join(tmp, "model_index.json"), "w") as f:
            json.dump({"_class_name": "DDIMPipeline", "_diffusers_version": diffusers.__version__,
                       "scheduler": ["diffusers", scheduler.get("_class_name", "DDIMScheduler")],
                       "unet": ["diffusers", "UNet2DModel"]}, f, indent=2)
        meta = {
            "format": "torchscript",
            "source": description,
            "in_channels": unet.config.in_channels,
            "out_channels": unet.config.out_channels,
            "sample_size": unet.config.sample_size,
            "dtype": dtype_name,
            "device": device,
            "prediction_type": scheduler.get("prediction_type", "epsilon"),
            "trace_max_abs_error": worst,
            "torch_version": torch.__version__,
            "diffusers_version": diffusers.__version__,
        }
        with open(os.path.join(tmp, "ddim_export.json"), "w") as f:
            json.dump(meta, f, indent=2)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp made it private
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def main():
    parser = argparse.ArgumentParser(description="Export a diffusers UNet2DModel to a ddim model folder.")
    parser.add_argument("src", help="hub id or local diffusers folder (pipeline or UNet)")
    parser.add_argument("out", help="model folder to write")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="float32", choices=list(DTYPES))
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    args = parser.parse_args()
    try:
        meta = export(args.src, args.out, args.device, args.dtype, args.overwrite)
    except ExportError as e:
        print(f"export_unet: {e}", file=sys.stderr)
        return 1
    print(f"exported {meta['source']} to {args.out} ({meta['dtype']}, {meta['device']}, "
          f"trace error {meta['trace_max_abs_error']:.2g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
