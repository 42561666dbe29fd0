#!/usr/bin/env python3
"""Where a compiled UNet forward spends its time: Inductor's kernel profile, split into
convolutions, attention (matmuls, softmax, SDPA), normalization (GroupNorm), elementwise work and
the rest, and oneDNN's verbose log (each primitive's kind, implementation and time, reorders
among them).

    .venv/bin/python bench/profile_unet.py --model DIR [--dtype bfloat16] [--batch 16] [--calls 5]
        [--layout default|channels_last] [--top 15] [--inductor KEY=VALUE ...]

The model is compiled as ddim's packages are (torch.compile with freezing, the code AOTInductor
generates; `cpp.enable_kernel_profile` names each generated kernel in the profile), then profiled
over --calls forwards. The oneDNN log comes from a second process with ONEDNN_VERBOSE=1 (one
forward). Shares are of the profiled wall time. `--inductor layout_optimization=False` (any
`torch._inductor.config` key, repeatable) profiles the model compiled with that setting instead.
Run on an idle machine.
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from export_unet import SEQUENCE_LENGTH, load_ddim_folder, make_wrapper  # noqa: E402

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def category(name):
    n = name.lower()
    # Inductor's generated kernels (graph_N_cpp_fused_...) name the ops they fused; matmuls and
    # convolutions are never among the generated code (they call oneDNN or MKL), so an "addmm" in such a
    # name is the bias-add epilogue around the norm it was fused with.
    if "cpp_fused" in n:
        if any(k in n for k in ("group_norm", "var_mean", "layer_norm")):
            return "normalization"
        return "elementwise (generated)"
    if "conv" in n:
        return "convolution"
    if any(k in n for k in ("scaled_dot_product", "flash_attention", "bmm", "baddbmm", "softmax", "_mm", "addmm",
                            "linear", "matmul")) or n in ("aten::mm",):
        return "attention / matmul"
    if any(k in n for k in ("group_norm", "native_group_norm", "var_mean", "layer_norm")):
        return "normalization"
    if "reorder" in n or "copy" in n or "clone" in n or "contiguous" in n:
        return "copies / reorders"
    return "other"


def inductor_setting(text):
    """KEY=VALUE of torch._inductor.config, VALUE as a Python literal: (key, value)."""
    import ast
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--inductor {text!r}: expected KEY=VALUE")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise argparse.ArgumentTypeError(f"--inductor {text!r}: VALUE is not a Python literal") from None


def compiled_model(model, dtype, batch, layout, settings=()):
    import torch._inductor.config as config
    config.freezing = True
    config.cpp.enable_kernel_profile = True
    for key, value in settings:
        *path, name = key.split(".")  # "cpp.simdlen": the cpp section's simdlen
        section = config
        for part in path:
            section = getattr(section, part)
        if not hasattr(section, name):
            raise SystemExit(f"--inductor {key}: torch._inductor.config has no such setting")
        setattr(section, name, value)
    wrapper = make_wrapper(load_ddim_folder(model).to(DTYPES[dtype]).eval(), SEQUENCE_LENGTH)
    cfg = wrapper.unet.config
    x = torch.randn(batch, cfg.in_channels, cfg.sample_size, cfg.sample_size).to(DTYPES[dtype])
    if layout == "channels_last":
        wrapper = wrapper.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    t = torch.full((batch,), 500, dtype=torch.int64)
    fn = torch.compile(wrapper, dynamic=False)
    with torch.no_grad():
        fn(x, t)
        fn(x, t)
    return fn, x, t


def onednn_summary(args):
    """Runs one forward in a child with ONEDNN_VERBOSE=1; {(kind, impl): [count, ms]}."""
    env = dict(os.environ, ONEDNN_VERBOSE="1", DDIM_PROFILE_CHILD="1")
    cmd = [sys.executable, __file__, "--model", args.model, "--dtype", args.dtype, "--batch", str(args.batch),
           "--layout", args.layout]
    for key, value in args.inductor:
        cmd += ["--inductor", f"{key}={value!r}"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    marker = out.find("DDIM_PROFILE_TIMED")
    lines = out[marker:].splitlines() if marker >= 0 else []
    table = collections.defaultdict(lambda: [0, 0.0])
    for line in lines:
        if not line.startswith("onednn_verbose") or ",exec," not in line:
            continue
        fields = line.split(",")
        # onednn_verbose,[timestamp,]primitive,exec,cpu,KIND,IMPL,PROP,...,TIME
        try:
            i = fields.index("exec")
            kind, impl, ms = fields[i + 2], fields[i + 3], float(fields[-1])
        except (ValueError, IndexError):
            continue
        table[(kind, impl)][0] += 1
        table[(kind, impl)][1] += ms
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dtype", default="bfloat16", choices=list(DTYPES))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--layout", default="default", choices=["default", "channels_last"])
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--inductor", type=inductor_setting, action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    fn, x, t = compiled_model(args.model, args.dtype, args.batch, args.layout, args.inductor)
    if os.environ.get("DDIM_PROFILE_CHILD"):
        print("DDIM_PROFILE_TIMED", flush=True)
        with torch.no_grad():
            fn(x, t)
        return 0

    from torch.profiler import ProfilerActivity, profile
    with torch.no_grad():
        start = time.perf_counter()
        for _ in range(args.calls):
            fn(x, t)
        plain_ms = (time.perf_counter() - start) * 1e3 / args.calls
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            for _ in range(args.calls):
                fn(x, t)
            wall_ms = (time.perf_counter() - start) * 1e3 / args.calls
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    split = collections.Counter()
    for e in events:
        split[category(e.key)] += e.self_cpu_time_total / 1e3 / args.calls
    settings = "".join(f", {key}={value!r}" for key, value in args.inductor)
    print(f"{args.model}, {args.dtype}, batch {args.batch}, layout {args.layout}{settings}: {plain_ms:.1f} ms per forward "
          f"({wall_ms:.1f} ms profiled), {torch.get_num_threads()} threads, torch {torch.__version__}")
    total = sum(split.values())
    print("split of the profiled self time (ms per forward, share):")
    for name, ms in split.most_common():
        print(f"  {name:<26} {ms:8.2f}  {ms / total * 100:5.1f} %")
    print(f"top {args.top} ops by self time:")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:args.top]:
        print(f"  {e.self_cpu_time_total / 1e3 / args.calls:8.2f} ms  {e.count // args.calls:4d}x  "
              f"[{category(e.key)}] {e.key[:90]}")
    table = onednn_summary(args)
    if table:
        print("oneDNN primitives in one forward (ONEDNN_VERBOSE=1): count, ms, kind, implementation")
        for (kind, impl), (count, ms) in sorted(table.items(), key=lambda kv: -kv[1][1]):
            print(f"  {count:5d} {ms:9.2f}  {kind:<14} {impl}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
