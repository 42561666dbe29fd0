#!/usr/bin/env python3
"""Export a diffusers UNet to a ddim model folder: an AOTInductor package, TorchScript, or both.

    .venv/bin/python scripts/export_unet.py SRC OUT [--format aoti|torchscript|both]
        [--device cpu|cuda] [--dtype float32|float16|bfloat16|LIST] [--march native|x86-64-v3|...] [--threads N]
        [--null-class N] [--guidance-scale G] [--sequence-length L]

SRC is a hub id (downloaded where the hub is reachable; the local cache is honoured, so it works
offline once cached), a local diffusers folder (a pipeline folder with unet/ and scheduler/, or a
bare UNet folder with config.json and weights), or a ddim model folder whose weights are read from
its unet/model.pt. OUT becomes:

    OUT/model_index.json
    OUT/unet/config.json                  the UNet2DModel config
    OUT/unet/model.pt2                    AOTInductor package (--format aoti, the default, or both)
    OUT/unet/model.<dtype>.pt2            one more package per further dtype of a list (--dtype float32,bfloat16)
    OUT/unet/dtype_auto.json              with a list: each package timed here, and the faster dtype
    OUT/unet/model.pt                     TorchScript (--format torchscript or both)
    OUT/scheduler/scheduler_config.json   as saved with the source (a DDIMScheduler config when none)
    OUT/ddim_export.json                  what was exported: format, dtype, device, versions, CPU ISA

The UNet is a UNet2DModel (unconditional, or class-conditional: num_class_embeds with
class_embed_type None) or a UNet2DConditionModel (cross-attention on encoder_hidden_states, plus
class labels where its config has them). Both artifacts compute

    forward(sample[B,C,H,W], timestep[B] int64[, encoder_hidden_states[B,L,D]][, class_labels[B] int64])

in that order, which ddim_export.json records as "inputs". L is the sequence length of the example
(--sequence-length, 77 as CLIP's); an AOTInductor package takes that L only. What needs inputs
ddim does not give is refused, naming the config key: class_embed_type "timestep", "identity",
"projection", "simple_projection"; addition_embed_type (SDXL's added_cond_kwargs);
time_cond_proj_dim; encoder_hid_dim_type. diffusers' UNet2DModel has no null class for
classifier-free guidance: a model trained with one (DiT's convention: num_class_embeds = classes + 1,
the null class = the last row) is exported with --null-class N, which ddim_export.json records
with --guidance-scale, the default guidance for the model (e.g. measured best by
scripts/eval_digits.py).

The AOTInductor
package is compiled C++ for this machine's instruction set (-march=native unless --march says
otherwise) and this torch version; it holds two models, "batch1" (static batch 1, the fastest
shape) and "batched" (a dynamic batch over the range torch.export proves, e.g. 2..63; larger
batches run in chunks), plus "batchN" for each N of --static-batches (a static model the loader
runs for a batch of exactly N: a few percent faster than the dynamic one, at the cost of another
copy of the weights in the package), and records in its metadata what the C++ loader checks
before loading it: torch version, device, dtype and the CPU features the code needs.

--dtype takes a comma-separated list for AOTInductor packages: the first dtype goes into
unet/model.pt2 (and unet/model.pt, the TorchScript file, with --format both), each further one D
into unet/model.D.pt2, and the loader picks one by the tools' --dtype (a list needs --format aoti
or both: TorchScript takes one dtype). With a list, each package is timed on this machine (batches 1 and 16, rounds interleaved,
medians) and unet/dtype_auto.json records the times, the CPU (model name, family and model, and
its AVX2/AVX-512/AMX extensions: cpu_identity()) and the choice of
`--dtype auto`: a dtype other than the first only where it is faster at every batch timed.

Each artifact is checked against the eager model on two batch sizes and two timesteps before
anything is written; the folder is written under a temporary name and renamed, so it is never
half-written.
"""
import argparse
import contextlib
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings

import torch
import diffusers
from diffusers import DDIMScheduler, UNet2DConditionModel, UNet2DModel

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Exported against eager, the largest absolute difference allowed, per dtype.
TOLERANCE = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 5e-2}
FORMATS = {"aoti": ["aoti"], "torchscript": ["torchscript"], "both": ["aoti", "torchscript"]}
ARTIFACT = {"aoti": "model.pt2", "torchscript": "model.pt"}
# Version of the metadata the C++ loader (src/models/aot_inductor_unet.cpp) reads from a package.
PACKAGE_FORMAT_VERSION = "1"
# GCC's predefined macros for instruction-set extensions -> the flag names of /proc/cpuinfo, which
# is what the C++ loader compares against. Extensions a compiler may use for -march=native.
CPU_FEATURE_MACROS = {
    "__SSE3__": "pni", "__SSSE3__": "ssse3", "__SSE4_1__": "sse4_1", "__SSE4_2__": "sse4_2",
    "__SSE4A__": "sse4a", "__POPCNT__": "popcnt", "__LZCNT__": "abm", "__MOVBE__": "movbe",
    "__BMI__": "bmi1", "__BMI2__": "bmi2", "__AVX__": "avx", "__AVX2__": "avx2", "__FMA__": "fma",
    "__F16C__": "f16c", "__AVXVNNI__": "avx_vnni", "__VAES__": "vaes", "__VPCLMULQDQ__": "vpclmulqdq",
    "__GFNI__": "gfni", "__AVX512F__": "avx512f", "__AVX512CD__": "avx512cd", "__AVX512BW__": "avx512bw",
    "__AVX512DQ__": "avx512dq", "__AVX512VL__": "avx512vl", "__AVX512IFMA__": "avx512ifma",
    "__AVX512VBMI__": "avx512vbmi", "__AVX512VBMI2__": "avx512_vbmi2", "__AVX512VNNI__": "avx512_vnni",
    "__AVX512BITALG__": "avx512_bitalg", "__AVX512VPOPCNTDQ__": "avx512_vpopcntdq",
    "__AVX512BF16__": "avx512_bf16", "__AVX512FP16__": "avx512_fp16", "__AMX_TILE__": "amx_tile",
    "__AMX_BF16__": "amx_bf16", "__AMX_INT8__": "amx_int8",
}


class ExportError(Exception):
    pass


UNET_CLASSES = {"UNet2DModel": UNet2DModel, "UNet2DConditionModel": UNet2DConditionModel}
# Default sequence length of encoder_hidden_states in the example inputs: CLIP's 77 tokens.
SEQUENCE_LENGTH = 77


class UNetForward(torch.nn.Module):
    """forward(sample, timestep[B]) -> the UNet's output tensor (return_dict=False)."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep):
        return self.unet(sample, timestep, return_dict=False)[0]


class ClassUNetForward(UNetForward):
    """forward(sample, timestep[B], class_labels[B] int64)."""

    def forward(self, sample, timestep, class_labels):
        return self.unet(sample, timestep, class_labels=class_labels, return_dict=False)[0]


class CrossAttentionUNetForward(UNetForward):
    """forward(sample, timestep[B], encoder_hidden_states[B, L, D])."""

    def forward(self, sample, timestep, encoder_hidden_states):
        return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]


class CrossAttentionClassUNetForward(UNetForward):
    """forward(sample, timestep[B], encoder_hidden_states[B, L, D], class_labels[B] int64)."""

    def forward(self, sample, timestep, encoder_hidden_states, class_labels):
        return self.unet(sample, timestep, encoder_hidden_states, class_labels=class_labels, return_dict=False)[0]


WRAPPERS = {(): UNetForward, ("class_labels",): ClassUNetForward,
            ("encoder_hidden_states",): CrossAttentionUNetForward,
            ("encoder_hidden_states", "class_labels"): CrossAttentionClassUNetForward}


def condition_inputs(unet):
    """The condition inputs the UNet takes after (sample, timestep), in order; ExportError naming the config
    key for what needs inputs ddim does not give."""
    config = unet.config
    conditional = isinstance(unet, UNet2DConditionModel)
    for key in (("addition_embed_type", "time_cond_proj_dim", "encoder_hid_dim_type") if conditional else ()):
        if config.get(key) is not None:
            raise ExportError(f"the UNet's {key} is {config[key]!r}: it needs inputs ddim does not give "
                              f"(only {key} None is exported)")
    if config.get("class_embed_type") is not None:
        raise ExportError(f"the UNet's class_embed_type is {config['class_embed_type']!r}: ddim gives class labels "
                          "to an embedding table only (class_embed_type None with num_class_embeds)")
    inputs = ("encoder_hidden_states",) if conditional else ()
    if config.get("num_class_embeds") is not None:
        inputs += ("class_labels",)
    return inputs


def load_ddim_folder(src):
    """A UNet2DModel rebuilt from a ddim model folder: unet/config.json and the weights of unet/model.pt."""
    config = json.load(open(os.path.join(src, "unet", "config.json")))
    unet = unet_class(config, src).from_config({k: v for k, v in config.items() if not k.startswith("_")})
    prefix = "unet."  # UNetForward's attribute name in the trace
    state = torch.jit.load(os.path.join(src, "unet", "model.pt"), map_location="cpu").state_dict()
    state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        unet.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ExportError(f"{src}/unet/model.pt does not hold the weights of its config.json: "
                          f"{str(e).splitlines()[0]}") from e
    return unet.float()


def unet_class(config, where):
    name = config.get("_class_name", "UNet2DModel")
    if name not in UNET_CLASSES:
        raise ExportError(f"{where}: the UNet's _class_name is {name!r}, not one of {', '.join(UNET_CLASSES)}")
    return UNET_CLASSES[name]


def load_unet(path, subfolder=None):
    """A UNet2DModel or UNet2DConditionModel, as its config's _class_name says."""
    config = (UNet2DModel.load_config(path, subfolder=subfolder) if subfolder
              else UNet2DModel.load_config(path))
    return unet_class(config, path).from_pretrained(path, **({"subfolder": subfolder} if subfolder else {}))


def load_source(src):
    """(unet, scheduler config dict or None, description) from a hub id or a local folder."""
    if os.path.isdir(src):
        unet_dir = os.path.join(src, "unet")
        if os.path.isfile(os.path.join(unet_dir, "config.json")):
            path = os.path.join(src, "scheduler", "scheduler_config.json")
            scheduler = json.load(open(path)) if os.path.isfile(path) else None
            has_weights = any(n.startswith("diffusion_pytorch_model") for n in os.listdir(unet_dir))
            if not has_weights and os.path.isfile(os.path.join(unet_dir, "model.pt")):
                return load_ddim_folder(src), scheduler, f"ddim model folder {src}"
            unet = load_unet(src, subfolder="unet")
            return unet, scheduler, f"local pipeline folder {src}"
        if os.path.isfile(os.path.join(src, "config.json")):
            return load_unet(src), None, f"local UNet folder {src}"
        raise ExportError(f"{src} is neither a pipeline folder (unet/config.json) nor a UNet folder (config.json)")
    try:
        unet = load_unet(src, subfolder="unet")
    except ExportError:
        raise
    except Exception:
        try:
            unet = load_unet(src)
        except ExportError:
            raise
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


def make_wrapper(unet, sequence_length):
    """The module both exports trace: forward(sample, timestep, *the condition inputs)."""
    inputs = condition_inputs(unet)
    wrapper = WRAPPERS[inputs](unet).eval()
    wrapper.condition_names = inputs
    wrapper.sequence_length = sequence_length
    if "encoder_hidden_states" in inputs and not isinstance(unet.config.cross_attention_dim, int):
        raise ExportError(f"the UNet's cross_attention_dim is {unet.config.cross_attention_dim!r}: ddim exports "
                          "one encoder_hidden_states width (an integer) only")
    return wrapper


def condition_example(wrapper, batch, device, dtype, gen):
    """Random condition inputs for a batch, in the wrapper's order."""
    config = wrapper.unet.config
    tensors = []
    for name in wrapper.condition_names:
        if name == "class_labels":
            tensors.append(torch.randint(0, config.num_class_embeds, (batch,), generator=gen).to(device))
        else:
            shape = (batch, wrapper.sequence_length, config.cross_attention_dim)
            tensors.append(torch.randn(shape, generator=gen).to(device, dtype))
    return tuple(tensors)


def check_against_eager(run, wrapper, device, dtype_name, what, batches=(1, 3)):
    """Largest absolute difference between run(x, t, ...) and the eager model over batches x two timesteps."""
    dtype = DTYPES[dtype_name]
    gen = torch.Generator().manual_seed(1)
    worst = 0.0
    with torch.no_grad():
        for batch in batches:
            x = torch.randn(sample_shape(wrapper.unet.config, batch), generator=gen).to(device, dtype)
            condition = condition_example(wrapper, batch, device, dtype, gen)
            for t in (10, 731):
                ts = torch.full((batch,), t, dtype=torch.int64, device=device)
                a = run(x, ts, *condition).float()
                b = wrapper(x, ts, *condition).float()
                if a.shape != b.shape:
                    raise ExportError(f"{what} output shape {tuple(a.shape)} != eager {tuple(b.shape)} "
                                      f"(batch {batch}, timestep {t})")
                worst = max(worst, (a - b).abs().max().item())
    if not worst <= TOLERANCE[dtype_name]:
        raise ExportError(f"{what} differs from eager by {worst:.3g} (> {TOLERANCE[dtype_name]}); "
                          "the UNet has shape- or value-dependent branches the export cannot follow")
    return worst


def example_inputs(wrapper, batch, device, dtype_name):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(sample_shape(wrapper.unet.config, batch), generator=gen).to(device, DTYPES[dtype_name])
    t = torch.tensor([999, 500, 1][:batch] + [7] * max(0, batch - 3), dtype=torch.int64, device=device)
    return (x, t) + condition_example(wrapper, batch, device, DTYPES[dtype_name], gen)


def trace(wrapper, path, device, dtype_name):
    """TorchScript: torch.jit.trace, saved to path. Returns the largest difference from eager."""
    with torch.no_grad(), warnings.catch_warnings():
        # diffusers' shape assertions become constants in the trace; the check below is what counts.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(wrapper, example_inputs(wrapper, 2, device, dtype_name), check_trace=False)
    worst = check_against_eager(traced, wrapper, device, dtype_name, "traced model")
    traced.save(path)
    return worst, {}


def compiler_features(march, arch_flags):
    """The /proc/cpuinfo flags of the instruction-set extensions the C++ compiler may use for march."""
    from torch._inductor.cpp_builder import get_cpp_compiler
    cmd = [get_cpp_compiler(), f"-march={march}", *arch_flags.split(), "-dM", "-E", "-x", "c++", "-"]
    try:
        macros = subprocess.run(cmd, input="", capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise ExportError(f"cannot ask the C++ compiler which CPU features -march={march} uses ({' '.join(cmd)}): {e}")
    defined = set(re.findall(r"#define (__\w+__) 1", macros))
    return sorted({flag for macro, flag in CPU_FEATURE_MACROS.items() if macro in defined})


def batch_range(ep, input_name="sample"):
    """(min, max) of the batch dimension torch.export proved for the input named input_name."""
    node = next(n for n in ep.graph.nodes if n.op == "placeholder" and n.name == input_name)
    size = node.meta["val"].shape[0]
    if isinstance(size, int):
        return size, size
    vr = ep.range_constraints[size.node.expr]
    # An unbounded range ends at torch's int_oo, a sympy infinity that int() cannot convert.
    upper = int(vr.upper) if vr.upper.is_finite and float(vr.upper) < 1 << 31 else 1 << 31
    return int(vr.lower), upper


@contextlib.contextmanager
def torch_threads(n):
    """torch runs on n threads inside the block (a CPU package keeps the count it was compiled with)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def package_settings(device, dtype_name, march, n_threads):
    """What every AOTInductor package of an export shares: (Inductor options, the package metadata
    the C++ loaders check, the CPU features -march enables, the vector ISA name or None)."""
    configs = {
        "aot_inductor.package": True,
        # Weights become constants: oneDNN prepacks convolution weights (CPU).
        "freezing": True,
    }
    cpu_features, vec_isa = [], None
    if device == "cpu":
        from torch._inductor.cpu_vec_isa import pick_vec_isa
        configs["cpp.march"] = march
        isa = pick_vec_isa()
        vec_isa = str(isa).split("(")[0] or "none"
        cpu_features = compiler_features(march, isa.build_arch_flags() if isa else "")
    metadata = {
        "ddim.format_version": PACKAGE_FORMAT_VERSION,
        "ddim.torch_version": torch.__version__.split("+")[0],
        "ddim.device": device,
        "ddim.dtype": dtype_name,
        "ddim.cpu_features": " ".join(cpu_features),
        "ddim.threads": str(n_threads),
    }
    return configs, metadata, cpu_features, vec_isa


def compile_aoti(wrapper, path, device, dtype_name, march, threads, static_batches=()):
    """AOTInductor: two exported programs (batch 1; dynamic batch), and one static program per batch in
    static_batches, compiled into one package at path."""
    from torch._inductor import aot_compile
    from torch._inductor.package import load_package, package_aoti

    n_threads = threads or torch.get_num_threads()
    configs, metadata, cpu_features, vec_isa = package_settings(device, dtype_name, march, n_threads)
    metadata["ddim.inputs"] = " ".join(["sample", "timestep", *wrapper.condition_names])
    metadata["ddim.static_batches"] = " ".join(str(b) for b in static_batches)
    files = {}
    ranges = {}
    with torch_threads(n_threads):
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            batch = torch.export.Dim.AUTO
            programs = {
                "batch1": torch.export.export(wrapper, example_inputs(wrapper, 1, device, dtype_name)),
                # An example batch >= 2: torch.export specializes a dimension of size 1 (0/1 specialization).
                "batched": torch.export.export(wrapper, example_inputs(wrapper, 2, device, dtype_name),
                                               dynamic_shapes=({0: batch},) * (2 + len(wrapper.condition_names))),
            }
            # A shape known when compiled lets Inductor plan every kernel for it, as batch1 does.
            for b in static_batches:
                programs[f"batch{b}"] = torch.export.export(wrapper, example_inputs(wrapper, b, device, dtype_name))
            for name, ep in programs.items():
                ranges[name] = batch_range(ep)
                options = dict(configs, **{"aot_inductor.metadata": dict(
                    metadata, **{"ddim.batch_min": str(ranges[name][0]), "ddim.batch_max": str(ranges[name][1])})})
                files[name] = aot_compile(ep.module(), ep.example_inputs[0], options=options)
        package_aoti(path, files)
    lo, hi = ranges["batched"]
    worst = 0.0
    checks = [("batch1", (1,)), ("batched", (lo, min(hi, lo + 1)))] + [(f"batch{b}", (b,)) for b in static_batches]
    for name, batches in checks:
        model = load_package(path, name)
        worst = max(worst, check_against_eager(model, wrapper, device, dtype_name, f"package model {name}", batches))
    meta = {"cpu_features": cpu_features, "threads": n_threads, "batched_range": [lo, hi],
            "static_batches": list(static_batches), "package_models": sorted(files)}
    if device == "cpu":
        meta.update(march=march, vec_isa=vec_isa)
    return worst, meta


def conditioning_record(wrapper, null_class, guidance_scale):
    """What ddim_export.json says of the condition inputs; ExportError for a null class or guidance that does
    not fit the model."""
    config = wrapper.unet.config
    record = {}
    if "class_labels" in wrapper.condition_names:
        if null_class is not None and not 0 <= null_class < config.num_class_embeds:
            raise ExportError(f"--null-class {null_class} is not a row of the UNet's class embedding "
                              f"(num_class_embeds {config.num_class_embeds})")
        record["class_labels"] = {"num_class_embeds": config.num_class_embeds, "null_class": null_class}
    elif null_class is not None:
        raise ExportError(f"--null-class {null_class}: the UNet has no class embedding (num_class_embeds None)")
    if "encoder_hidden_states" in wrapper.condition_names:
        record["encoder_hidden_states"] = {"sequence_length": wrapper.sequence_length,
                                           "dim": config.cross_attention_dim}
    if guidance_scale is not None:
        if not record:
            raise ExportError(f"--guidance-scale {guidance_scale}: the UNet takes no condition to guide with")
        if not guidance_scale >= 0:
            raise ExportError(f"--guidance-scale {guidance_scale}: must be >= 0")
        record["guidance_scale"] = guidance_scale
    return record


def parse_static_batches(text):
    """'4' or '2,4,8' -> (2, 4, 8): distinct batch sizes >= 2, sorted (batch 1 has its own model already)."""
    try:
        batches = sorted({int(word) for word in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of batch sizes") from None
    if batches and batches[0] < 2:
        raise argparse.ArgumentTypeError(f"batch {batches[0]}: static batches start at 2 (batch1 is always there)")
    return tuple(batches)


def parse_dtypes(text):
    """'float32' or a comma-separated list such as 'float32,bfloat16' -> the names, in order."""
    names = [name.strip() for name in text.split(",")]
    for name in names:
        if name not in DTYPES:
            raise ExportError(f"--dtype {text}: '{name}' is not one of {', '.join(DTYPES)}")
    if len(set(names)) != len(names):
        raise ExportError(f"--dtype {text}: a dtype is named twice")
    return names


def package_file(dtype_names, dtype_name):
    """unet/model.pt2 holds the first dtype of the list, unet/model.<dtype>.pt2 each further one."""
    return ARTIFACT["aoti"] if dtype_name == dtype_names[0] else f"model.{dtype_name}.pt2"


# The extensions whose presence changes which dtype is faster (src/models/cpu_features.cpp lists the same).
DTYPE_SPEED_FEATURES = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_fp16")


def cpuinfo_fields():
    """/proc/cpuinfo's first processor, key -> value; empty where there is none."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_identity():
    """What decides which dtype is faster on this CPU, as one line ("AMD EPYC; family 25 model 17; avx2
    avx512_bf16 avx512f fma"): the model name, family and model, and the extensions of
    DTYPE_SPEED_FEATURES it has. The C++ loader compares it (detail::cpu_identity) before trusting
    dtype_auto.json; a model name alone does not tell an AVX2 EPYC from an AVX512-BF16 one."""
    fields = cpuinfo_fields()
    flags = set(fields.get("flags", "").split())
    present = " ".join(sorted(f for f in DTYPE_SPEED_FEATURES if f in flags))
    line = f"{fields.get('model name', '')}; family {fields.get('cpu family', '')} model {fields.get('model', '')};"
    return f"{line} {present}" if present else line


def package_model_for(batch, static_batches):
    """The package model the C++ loader runs a batch of this size on (within the dynamic range)."""
    return "batch1" if batch == 1 else f"batch{batch}" if batch in static_batches else "batched"


def time_packages(packages, wrapper, device, batches=(1, 16), rounds=5, static_batches=()):
    """ms per forward of each package (dtype -> path) at each batch: the same model ddim runs per batch
    (batch1 at 1, batchN for a static batch N, batched otherwise), rounds interleaved across dtypes, medians."""
    from torch._inductor.package import load_package
    import statistics
    import time
    times = {name: {b: [] for b in batches} for name in packages}
    models = {}
    for name, path in packages.items():
        models[name] = {b: load_package(path, package_model_for(b, static_batches)) for b in batches}
    with torch.no_grad():
        for r in range(rounds + 1):  # the first round warms up
            for name in packages:
                for b in batches:
                    inputs = example_inputs(wrapper, b, device, name)
                    model = models[name][b]
                    model(*inputs)
                    start = time.perf_counter()
                    model(*inputs)
                    if r:
                        times[name][b].append((time.perf_counter() - start) * 1e3)
    return {name: {str(b): round(statistics.median(v), 3) for b, v in per.items()} for name, per in times.items()}


def dtype_auto_record(dtype_names, ms):
    """unet/dtype_auto.json: the times, and the dtype `--dtype auto` runs: a later one only where it is
    faster than the first at every batch timed (the fastest of those at the largest batch)."""
    first = dtype_names[0]
    largest = max(ms[first], key=int)
    faster = [name for name in dtype_names[1:] if all(ms[name][b] < ms[first][b] for b in ms[first])]
    choice = min(faster, key=lambda name: ms[name][largest]) if faster else first
    return {"choice": choice, "cpu": cpu_identity(), "cpu_model": cpuinfo_fields().get("model name", ""),
            "threads": torch.get_num_threads(),
            "ms_per_forward": ms, "rule": f"a dtype other than {first} where it is faster at every batch",
            "measured_by": "scripts/export_unet.py"}


def export(src, out, device, dtype_name, formats=("aoti",), overwrite=False, march="native", threads=0,
           null_class=None, guidance_scale=None, sequence_length=SEQUENCE_LENGTH, static_batches=()):
    dtype_names = parse_dtypes(dtype_name)
    static_batches = tuple(static_batches)
    if static_batches and "aoti" not in formats:
        raise ExportError(f"--static-batches {','.join(map(str, static_batches))}: needs --format aoti or both "
                          f"(a TorchScript trace takes every batch)")
    dtype_name = dtype_names[0]
    if len(dtype_names) > 1 and "aoti" not in formats:
        raise ExportError(f"--dtype {','.join(dtype_names)}: a list of dtypes needs --format aoti or both "
                          f"(TorchScript takes one dtype)")
    if device == "cuda" and not torch.cuda.is_available():
        raise ExportError("--device cuda needs a CUDA GPU visible to torch")
    if device == "cuda" and "aoti" in formats:
        raise ExportError("--format aoti is CPU-only in this version; export for CUDA with --format torchscript")
    if os.path.exists(out) and os.listdir(out) and not overwrite:
        raise ExportError(f"{out} exists and is not empty (pass --overwrite to replace it)")
    if sequence_length < 1:
        raise ExportError(f"--sequence-length {sequence_length}: must be >= 1")
    unet, scheduler, description = load_source(src)
    unet = unet.to(device=device).eval()
    # One wrapper per dtype, each around its own copy of the weights in that dtype.
    wrappers = {name: make_wrapper(copy.deepcopy(unet).to(dtype=DTYPES[name]), sequence_length)
                for name in dtype_names}
    wrapper = wrappers[dtype_name]
    conditioning = conditioning_record(wrapper, null_class, guidance_scale)
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
        meta = {
            "format": formats[0],
            "formats": list(formats),
            "source": description,
            "in_channels": unet.config.in_channels,
            "out_channels": unet.config.out_channels,
            "sample_size": unet.config.sample_size,
            "unet_class": type(unet).__name__,
            "inputs": ["sample", "timestep", *wrapper.condition_names],
            "conditioning": conditioning,
            "dtype": dtype_name,
            "dtypes": dtype_names,
            "device": device,
            "prediction_type": scheduler.get("prediction_type", "epsilon"),
            "torch_version": torch.__version__,
            "diffusers_version": diffusers.__version__,
        }
        for fmt in formats:
            path = os.path.join(tmp, "unet", ARTIFACT[fmt])
            if fmt == "aoti":
                packages = {}
                for name in dtype_names:
                    packages[name] = os.path.join(tmp, "unet", package_file(dtype_names, name))
                    worst, extra = compile_aoti(wrappers[name], packages[name], device, name, march, threads,
                                                static_batches)
                    if name == dtype_name:
                        meta[fmt] = dict(extra, max_abs_error=worst)
                    else:
                        meta.setdefault("aoti_packages", {})[name] = dict(
                            extra, file=f"unet/{package_file(dtype_names, name)}", max_abs_error=worst)
                if len(dtype_names) > 1 and device == "cpu":
                    n_threads = threads or torch.get_num_threads()
                    with torch_threads(n_threads):
                        ms = time_packages(packages, wrapper, device,
                                           batches=(1, min(16, meta["aoti"]["batched_range"][1])),
                                           static_batches=static_batches)
                    record = dtype_auto_record(dtype_names, ms)
                    record["threads"] = n_threads
                    with open(os.path.join(tmp, "unet", "dtype_auto.json"), "w") as f:
                        json.dump(record, f, indent=2)
                    meta["dtype_auto"] = record["choice"]
            else:
                worst, extra = trace(wrapper, path, device, dtype_name)
                meta[fmt] = dict(extra, max_abs_error=worst)
        unet_config = {k: v for k, v in dict(unet.config).items()}
        unet_config["_class_name"] = type(unet).__name__
        with open(os.path.join(tmp, "unet", "config.json"), "w") as f:
            json.dump(unet_config, f, indent=2, sort_keys=True)
        with open(os.path.join(tmp, "scheduler", "scheduler_config.json"), "w") as f:
            json.dump(scheduler, f, indent=2, sort_keys=True)
        with open(os.path.join(tmp, "model_index.json"), "w") as f:
            json.dump({"_class_name": "DDIMPipeline", "_diffusers_version": diffusers.__version__,
                       "scheduler": ["diffusers", scheduler.get("_class_name", "DDIMScheduler")],
                       "unet": ["diffusers", type(unet).__name__]}, f, indent=2)
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
    diffusers.utils.logging.set_verbosity_error()
    parser = argparse.ArgumentParser(description="Export a diffusers UNet2DModel to a ddim model folder.")
    parser.add_argument("src", help="hub id, local diffusers folder (pipeline or UNet) or ddim model folder")
    parser.add_argument("out", help="model folder to write")
    parser.add_argument("--format", default="aoti", choices=list(FORMATS),
                        help="aoti: AOTInductor package (compiled for this machine); torchscript: portable trace")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="float32",
                        help=f"{', '.join(DTYPES)}, or a comma-separated list of them for --format aoti "
                             "(one package each; the first in unet/model.pt2)")
    parser.add_argument("--march", default="native",
                        help="CPU target of an aoti package (-march=...): native, or e.g. x86-64-v3 to run on "
                             "any AVX2 machine")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads an aoti CPU package runs on (fixed when compiled; default: torch's count)")
    parser.add_argument("--null-class", type=int, default=None,
                        help="the class label a class-conditional UNet was trained to take as 'no class' "
                             "(classifier-free guidance's unconditional half)")
    parser.add_argument("--guidance-scale", type=float, default=None,
                        help="the default guidance scale ddim-generate uses for this conditional model")
    parser.add_argument("--sequence-length", type=int, default=SEQUENCE_LENGTH,
                        help="the length L of encoder_hidden_states [B, L, D] a cross-attention UNet takes")
    parser.add_argument("--static-batches", type=parse_static_batches, default=(), metavar="N[,N...]",
                        help="also compile a model for each of these batch sizes (>= 2) into the aoti package; "
                             "the loader runs a batch of exactly that size on it (default: none)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    args = parser.parse_args()
    if args.threads < 0:
        parser.error(f"--threads {args.threads}: must be >= 1 (or 0 for torch's count)")
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", args.march):
        parser.error(f"--march {args.march!r} is not a compiler architecture name")
    try:
        meta = export(args.src, args.out, args.device, args.dtype, FORMATS[args.format], args.overwrite,
                      args.march, args.threads, args.null_class, args.guidance_scale, args.sequence_length,
                      args.static_batches)
    except ExportError as e:
        print(f"export_unet: {e}", file=sys.stderr)
        return 1
    errors = ", ".join(f"{fmt} error {meta[fmt]['max_abs_error']:.2g}" for fmt in meta["formats"])
    errors += "".join(f", {name} aoti error {extra['max_abs_error']:.2g}"
                      for name, extra in meta.get("aoti_packages", {}).items())
    auto = f", --dtype auto: {meta['dtype_auto']}" if "dtype_auto" in meta else ""
    print(f"exported {meta['source']} to {args.out} ({','.join(meta['dtypes'])}, {meta['device']}, {errors}{auto})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
