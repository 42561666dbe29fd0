#!/usr/bin/env python3
"""ms per UNet forward in every runtime that can run the model, beside ddim, in one run: torch eager,
torch.compile (freezing on), OpenVINO, ONNX Runtime and ddim's AOTInductor packages, float32 and
bfloat16, at each batch, rounds interleaved, medians, with the fraction of the CPU's peak.

    "$(bench/setup_peers.sh)" bench/unet_vs_peers.py --model DIR [--batches 1,16] [--rounds 5]
        [--dtypes float32,bfloat16] [--runtimes eager,compile,openvino,onnxruntime,ddim]
        [--bin build/bin] [--ghz G] [--json results.json] [--svg chart.svg]

--model is a ddim model folder holding unet/model.pt (the weights the peers load) and the
AOTInductor packages ddim runs: unet/model.pt2 for float32 and unet/model.bfloat16.pt2 for bfloat16
(scripts/export_unet.py SRC DIR --format both --dtype float32,bfloat16 writes them; an export
that records only one dtype times only that one in ddim). The peers run the same weights:
  eager        the diffusers UNet2DModel, torch.no_grad, in the dtype
  compile      torch.compile of it with Inductor's freezing (weights as constants, as ddim's packages)
  openvino     ov.convert_model of the float32 module, compiled with INFERENCE_PRECISION_HINT f32 or
               bf16, PERFORMANCE_HINT LATENCY, one static-shape model per batch
  onnxruntime  torch.onnx.export (dynamo) of the float32 module, ORT_ENABLE_ALL; float32 only
  ddim         build/bin/bench_unet (DDIMPipeline::generate on the package): per step, from the
               difference between two step counts, so one step = one UNet call + one scheduler
               step (ddim's figure carries the scheduler step; the peers' do not)
Every runtime runs on torch's thread count (the cores). The FLOPs per image come from
torch.utils.flop_counter on eager float32. The fp32 and AVX512-BF16 peaks are measured by
<bin>/cpu_peak (bench/cpu_peak.cpp: independent FMAs and vdpbf16ps on every core at once), since
neither the clock a virtual machine's cores run at nor the width of their datapath can be read off
/proc/cpuinfo. The AMX-BF16 peak, and every peak when cpu_peak is not built or --ghz is given, is
cores x GHz x FLOPs per cycle: fp32 FMA 64 (AVX-512, two 16-lane FMA units) or 32 (AVX2, or AVX-512
on AMD Zen 4's 256-bit datapath), bf16 1024 with AMX-BF16, 128 with AVX512-BF16 alone (64 on Zen
4), at /proc/cpuinfo's "cpu MHz" unless --ghz gives the clock. Run on an idle machine.
"""
import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from export_unet import (DTYPE_SPEED_FEATURES, SEQUENCE_LENGTH, cpu_identity, cpuinfo_fields,  # noqa: E402
                         load_ddim_folder, make_wrapper)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
RUNTIMES = ["eager", "compile", "openvino", "onnxruntime", "ddim"]


def cpuinfo():
    """(/proc/cpuinfo's first processor as key -> value, its flags, its clock in GHz)."""
    fields = cpuinfo_fields()
    return fields, set(fields.get("flags", "").split()), float(fields.get("cpu MHz", "0") or 0) / 1e3


def peaks(fields, flags, ghz, cores):
    """FLOP/s: (fp32 FMA peak, bf16 peak or None). AMD's family 25 (Zen 3, Zen 4) runs AVX-512 on a
    256-bit datapath, two 8-lane FMA units: half the FLOPs per cycle of a 512-bit one."""
    half = fields.get("vendor_id") == "AuthenticAMD" and fields.get("cpu family") == "25"
    fp32 = (32 if half else 64) if "avx512f" in flags else 32 if "fma" in flags else 8
    bf16 = 1024 if "amx_bf16" in flags else (64 if half else 128) if "avx512_bf16" in flags else None
    return cores * ghz * 1e9 * fp32, (cores * ghz * 1e9 * bf16 if bf16 else None)


def cpu_peaks(args, fields, flags, ghz, cores):
    """(fp32 peak, bf16 peak or None, where they come from), FLOP/s. Measured by <bin>/cpu_peak on
    `cores` threads where it is built and --ghz is not given; the AMX-BF16 peak, which cpu_peak does
    not measure, and every peak without cpu_peak, from peaks()."""
    fp32, bf16 = peaks(fields, flags, ghz, cores)
    probe = os.path.join(args.bin, "cpu_peak")
    if args.ghz or not os.access(probe, os.X_OK):
        if not args.ghz:
            print(f"note: {probe} not built (DDIM_BUILD_BENCHMARKS): peaks from the table at {ghz:.2f} GHz",
                  file=sys.stderr)
        return fp32, bf16, f"table at {ghz:.2f} GHz"
    run = subprocess.run([probe, "--threads", str(cores)], capture_output=True, text=True)
    if run.returncode != 0:  # no AVX2 or AVX-512 FMA to measure
        print(f"note: {probe} measured nothing here: peaks from the table at {ghz:.2f} GHz", file=sys.stderr)
        return fp32, bf16, f"table at {ghz:.2f} GHz"
    measured = json.loads(run.stdout)
    fp32 = measured["fp32_gflops"] * 1e9
    source = f"cpu_peak: fp32 {measured['fp32_gflops']:.0f} GFLOP/s ({measured['fp32_isa']})"
    if "amx_bf16" in flags:
        source += f", bf16 from the AMX table at {ghz:.2f} GHz"
    elif measured["bf16_gflops"]:
        bf16 = measured["bf16_gflops"] * 1e9
        source += f", bf16 {measured['bf16_gflops']:.0f} GFLOP/s ({measured['bf16_isa']})"
    return fp32, bf16, source


def flops_per_image(wrapper, shape):
    from torch.utils.flop_counter import FlopCounterMode
    x = torch.randn(1, *shape)
    t = torch.tensor([500])
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        wrapper(x, t)
    return counter.get_total_flops()


def timed(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def inputs(shape, batch, dtype):
    gen = torch.Generator().manual_seed(batch)
    return torch.randn(batch, *shape, generator=gen).to(dtype), torch.full((batch,), 500, dtype=torch.int64)


def python_runtime(name, wrapper32, dtype_name, batches, shape, work):
    """{batch: callable} for a Python runtime, prepared (compiled, converted) before any timing."""
    dtype = DTYPES[dtype_name]
    calls = {}
    if name in ("eager", "compile"):
        module = copy.deepcopy(wrapper32).to(dtype) if dtype != torch.float32 else wrapper32
        if name == "compile":
            import torch._inductor.config as inductor_config
            inductor_config.freezing = True
            torch._dynamo.reset()
            module = torch.compile(module, dynamic=False)
        for b in batches:
            x, t = inputs(shape, b, dtype)
            calls[b] = (lambda m, x, t: lambda: m(x, t))(module, x, t)
            with torch.no_grad():
                calls[b]()  # compile now, not in the first timed round
    elif name == "openvino":
        import openvino as ov
        core = ov.Core()
        hint = {"float32": "f32", "bfloat16": "bf16"}[dtype_name]
        for b in batches:
            x, t = inputs(shape, b, torch.float32)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = ov.convert_model(wrapper32, example_input=(x, t))
            compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY",
                                                         "INFERENCE_NUM_THREADS": torch.get_num_threads()})
            request = compiled.create_infer_request()
            feed = [x.numpy(), t.numpy()]
            calls[b] = (lambda r, feed: lambda: r.infer(feed))(request, feed)
    elif name == "onnxruntime":
        import onnxruntime as ort
        path = os.path.join(work, "unet.onnx")
        if not os.path.exists(path):
            x, t = inputs(shape, 2, torch.float32)
            batch = torch.export.Dim("batch", min=1, max=1024)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(wrapper32, (x, t), path, input_names=["sample", "timestep"], dynamo=True,
                                  dynamic_shapes=({0: batch}, {0: batch}), verbose=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        for b in batches:
            x, t = inputs(shape, b, torch.float32)
            feed = {"sample": x.numpy(), "timestep": t.numpy()}
            calls[b] = (lambda s, feed: lambda: s.run(None, feed))(session, feed)
    return calls


def ddim_per_step(bench, model, dtype_name, batches, steps=(5, 15)):
    """{batch: ms per step} from bench_unet at two step counts: (T(s2) - T(s1)) / (s2 - s1)."""
    total = {}
    for s in steps:
        out = subprocess.run([bench, f"--model={model}", f"--batches={','.join(map(str, batches))}", f"--steps={s}",
                              f"--dtype={dtype_name}", "--backends=aoti", "--benchmark_format=json",
                              "--benchmark_min_time=1s"], capture_output=True, text=True, check=True).stdout
        for b in json.loads(out)["benchmarks"]:
            assert b["time_unit"] == "ms"
            total[(s, int(b["name"].split("/")[2].split(":")[1]))] = b["real_time"]
    return {b: (total[(steps[1], b)] - total[(steps[0], b)]) / (steps[1] - steps[0]) for b in batches}


def ddim_has(model, dtype_name):
    export = json.load(open(os.path.join(model, "ddim_export.json")))
    return dtype_name in export.get("dtypes", [export.get("dtype", "float32")]) and "aoti" in export.get("formats", [])


def chart(rows, runtimes, path, title):
    """Grouped bars: per row (a dtype and batch, or the row's "label"), each runtime's speed as a multiple
    of the best peer's."""
    from xml.sax.saxutils import escape
    colors = {"eager": "#cbd5e0", "compile": "#a0aec0", "openvino": "#9ae6b4", "onnxruntime": "#fbd38d",
              "ddim": "#2b6cb0"}
    groups = [r for r in rows if r["best_peer_ms"]]
    top = max(1.5, max(r["best_peer_ms"] / ms for r in groups for ms in r["ms"].values()) + 0.2)
    bar = 26
    group_w = bar * len(runtimes) + 30
    width, height, left, plot_h = 80 + group_w * len(groups), 340, 60, 220
    y = lambda v: 34 + plot_h * (1 - v / top)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           'font-size="11">', f'<rect width="{width}" height="{height}" fill="white"/>']
    for tick in [i * 0.5 for i in range(int(top / 0.5) + 1)]:
        out.append(f'<line x1="{left}" x2="{width - 10}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                   f'stroke="{"#333" if tick == 1 else "#e2e8f0"}"/>')
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}×</text>')
    for i, row in enumerate(groups):
        x0 = left + 15 + group_w * i
        for j, name in enumerate(runtimes):
            if name not in row["ms"]:
                continue
            v = row["best_peer_ms"] / row["ms"][name]
            x = x0 + bar * j
            out.append(f'<rect x="{x}" y="{y(v):.1f}" width="{bar - 3}" height="{y(0) - y(v):.1f}" '
                       f'fill="{colors[name]}"/>')
            out.append(f'<text x="{x + bar / 2 - 1}" y="{y(v) - 3:.1f}" text-anchor="middle" font-size="9">'
                       f'{v:.2f}</text>')
        label = row.get("label") or f'{row["dtype"]}, batch {row["batch"]}'
        out.append(f'<text x="{x0 + bar * len(runtimes) / 2}" y="{y(0) + 16:.1f}" text-anchor="middle">'
                   f'{escape(label)}</text>')
    for j, name in enumerate(runtimes):
        lx = left + 110 * j
        out.append(f'<rect x="{lx}" y="{height - 28}" width="12" height="12" fill="{colors[name]}"/>')
        out.append(f'<text x="{lx + 17}" y="{height - 18}">{name}</text>')
    out.append(f'<text x="{left}" y="14">{escape(title)}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def comparison_args(parser, prog, dtypes, runtimes, batches, rounds, repeats, what):
    """Adds the options every side-by-side script shares, parses, and checks the lists against `dtypes` and
    `runtimes`: (args, batches, dtype names, runtime names)."""
    parser.add_argument("--batches", default=batches)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--runtimes", default=",".join(runtimes))
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--repeats", type=int, default=repeats, help=f"timed {what} per runtime, batch and round")
    parser.add_argument("--bin", default="build/bin")
    parser.add_argument("--ghz", type=float, help="the cores' clock for the peak (default: /proc/cpuinfo)")
    parser.add_argument("--json", help="write every figure here")
    parser.add_argument("--svg", help="draw the ratios to the best peer here")
    args = parser.parse_args()
    chosen = {"dtypes": args.dtypes.split(","), "runtimes": args.runtimes.split(",")}
    for option, known in (("dtypes", dtypes), ("runtimes", runtimes)):
        for name in chosen[option]:
            if name not in known:
                sys.exit(f"{prog}: --{option}: '{name}' is not one of {', '.join(known)}")
    return args, [int(b) for b in args.batches.split(",")], chosen["dtypes"], chosen["runtimes"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    args, batches, dtype_names, runtimes = comparison_args(parser, "unet_vs_peers", DTYPES, RUNTIMES, "1,16", 5, 3,
                                                           "calls")
    if not os.path.isfile(os.path.join(args.model, "unet", "model.pt")):
        sys.exit(f"unet_vs_peers: {args.model}/unet/model.pt missing (export with --format both)")

    fields, flags, mhz_ghz = cpuinfo()
    name, cpu = fields.get("model name", "unknown CPU"), cpu_identity()
    ghz = args.ghz or mhz_ghz
    cores = torch.get_num_threads()
    torch.set_num_threads(cores)
    wrapper32 = make_wrapper(load_ddim_folder(args.model).eval(), SEQUENCE_LENGTH)
    config = wrapper32.unet.config
    shape = (config.in_channels, config.sample_size, config.sample_size)
    flops = flops_per_image(wrapper32, shape)
    fp32_peak, bf16_peak, peak_source = cpu_peaks(args, fields, flags, ghz, cores)
    isa = " ".join(sorted(f for f in flags if f in DTYPE_SPEED_FEATURES))
    print(f"CPU: {cpu}; {cores} threads at {ghz:.2f} GHz; peaks: {peak_source}", file=sys.stderr)

    versions = {"torch": torch.__version__}
    work = tempfile.mkdtemp(prefix="ddim-peers-")
    prepared = {}
    for dtype_name in dtype_names:
        for name in runtimes:
            if name == "ddim":
                if ddim_has(args.model, dtype_name):
                    prepared[(name, dtype_name)] = None
                else:
                    print(f"skipped: ddim {dtype_name} ({args.model} has no {dtype_name} package)", file=sys.stderr)
                continue
            if name == "onnxruntime" and dtype_name != "float32":
                continue
            if name in ("openvino", "onnxruntime"):
                try:
                    module = __import__(name)
                    versions[name] = module.__version__
                except ImportError:
                    sys.exit(f"unet_vs_peers: {name} is not installed; run with the python bench/setup_peers.sh prints")
            if name == "openvino" and dtype_name == "bfloat16" and not bf16_peak:
                print("skipped: openvino bfloat16 (this CPU has no native bfloat16)", file=sys.stderr)
                continue
            print(f"preparing {name} {dtype_name}", file=sys.stderr)
            prepared[(name, dtype_name)] = python_runtime(name, wrapper32, dtype_name, batches, shape, work)

    samples = {}
    for r in range(args.rounds):
        for (name, dtype_name), calls in prepared.items():
            if name == "ddim":
                for b, ms in ddim_per_step(os.path.join(args.bin, "bench_unet"), args.model, dtype_name,
                                           batches).items():
                    samples.setdefault((name, dtype_name, b), []).append(ms)
                continue
            with torch.no_grad():
                for b in batches:
                    samples.setdefault((name, dtype_name, b), []).append(timed(calls[b], args.repeats))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    rows = []
    print(f"\n{cpu}; {cores} threads, {ghz:.2f} GHz; peaks: {peak_source}; model {args.model}, "
          f"{flops / 1e9:.2f} GFLOP per image; medians of {args.rounds} rounds; "
          + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print("ms per UNet forward (ddim: per DDIM step); x = the best peer's time / this one's; % = of the dtype's peak")
    for dtype_name in dtype_names:
        peak = fp32_peak if dtype_name == "float32" else bf16_peak
        for b in batches:
            ms = {name: statistics.median(samples[(name, d, bb)]) for (name, d, bb) in samples
                  if d == dtype_name and bb == b}
            if not ms:
                continue
            peers = {k: v for k, v in ms.items() if k != "ddim"}
            best = min(peers.values()) if peers else None
            best_name = min(peers, key=peers.get) if peers else None
            row = {"dtype": dtype_name, "batch": b, "ms": ms, "best_peer": best_name, "best_peer_ms": best,
                   "peak_fraction": {k: flops * b / (v / 1e3) / peak for k, v in ms.items()} if peak else {}}
            rows.append(row)
            cells = []
            for name in runtimes:
                if name in ms:
                    frac = f", {row['peak_fraction'][name] * 100:.0f} %" if peak else ""
                    ratio = f" {best / ms[name]:.2f}x" if best else ""
                    cells.append(f"{name} {ms[name]:.1f}{ratio}{frac}")
            print(f"{dtype_name:>8} batch {b:>3}: " + "; ".join(cells))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "cpu": cpu, "isa": isa, "threads": cores, "ghz": ghz,
                       "gflop_per_image": flops / 1e9, "peak_gflops": {"float32": fp32_peak / 1e9,
                                                                      "bfloat16": bf16_peak / 1e9 if bf16_peak else None},
                       "peak_source": peak_source, "versions": versions, "rounds": args.rounds, "rows": rows,
                       "samples": {"/".join(map(str, k)): v for k, v in samples.items()}}, f, indent=2)
    if args.svg:
        chart(rows, runtimes, args.svg, f"speed per UNet call as a multiple of the best peer's ({name}, "
                                        f"{cores} threads; 1 = the best peer)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
