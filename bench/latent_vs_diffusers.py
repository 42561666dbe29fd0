#!/usr/bin/env python3
"""Per DDIM step and per decode on a latent model (LDMPipeline: UNet2DModel + VQModel): ddim beside
diffusers eager and torch.compile, float32 and bfloat16, at each batch, in one run, rounds
interleaved, medians, with the fraction of the CPU's peak.

    .venv/bin/python bench/latent_vs_diffusers.py --src SRC --model DIR [--batches 1,4]
        [--dtypes float32,bfloat16] [--rounds 3] [--bin build/bin] [--json results.json] [--svg chart.svg]

SRC is the diffusers LDMPipeline folder (bench/make_ldm_celebahq_like.py writes one with
CompVis/ldm-celebahq-256's architecture), DIR its ddim export with a package per dtype
(scripts/export_model.py SRC DIR --dtype float32,bfloat16). What is timed:
  step    one step of LDMPipeline's loop on latents of the batch: the UNet call and
          DDIMScheduler.step (eta 0), 50-step schedule.
            eager    diffusers' UNet2DModel and DDIMScheduler, torch.no_grad, model and latents in
                     the dtype (as a pipeline loaded with torch_dtype)
            compile  the same with the UNet through torch.compile, Inductor's freezing on (weights as
                     constants, as ddim's packages), one static-shape graph per batch
            ddim     build/bin/bench_unet (DDIMPipeline::generate on unet/model[.bfloat16].pt2) at two
                     step counts, (T(3) - T(1)) / 2: one UNet call + one scheduler step. bfloat16 is
                     ddim's mixed precision: the UNet in bfloat16, the scheduler in float32
  decode  VQModel.decode of a batch of latents (quantization, then the decoder), as LDMPipeline's
          last stage.
            eager, compile   as above, in the dtype
            ddim     build/bin/bench_vae on vqvae/model.pt2. ddim's VAE runs in float32 whatever
                     --dtype says, so its bfloat16 row shows its float32 decode
Every runtime runs on torch's thread count (the cores). Speed-ups are the best peer's median over
this one's. FLOPs per image come from torch.utils.flop_counter on eager float32; peaks as
unet_vs_peers.py. Run on an idle machine: one round at batch 4 takes minutes.
"""
import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet_vs_peers import (DTYPE_SPEED_FEATURES, chart, comparison_args, cpu_identity, cpu_peaks,  # noqa: E402
                           cpuinfo)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
RUNTIMES = ["eager", "compile", "ddim"]
STEPS = (1, 3)  # bench_unet's two step counts


def load_source(src):
    import diffusers
    diffusers.utils.logging.set_verbosity_error()
    from diffusers import DDIMScheduler, UNet2DModel, VQModel
    index = json.load(open(os.path.join(src, "model_index.json")))
    if index.get("_class_name") != "LDMPipeline":
        sys.exit(f"latent_vs_diffusers: {src} is a {index.get('_class_name')} folder, not an LDMPipeline")
    unet = UNet2DModel.from_pretrained(src, subfolder="unet").eval()
    vqvae = VQModel.from_pretrained(src, subfolder="vqvae").eval()
    scheduler = DDIMScheduler.from_pretrained(src, subfolder="scheduler")
    return unet, vqvae, scheduler


class Decoder(torch.nn.Module):
    """VQModel.decode as LDMPipeline calls it (quantize, then decode), with a tensor out."""

    def __init__(self, vqvae):
        super().__init__()
        self.vqvae = vqvae

    def forward(self, latents):
        return self.vqvae.decode(latents).sample


def flops_per_image(fn, *args):
    from torch.utils.flop_counter import FlopCounterMode
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops()


def python_calls(unet32, decoder32, scheduler, dtype_name, compiled, batches, latent_shape):
    """{("step" | "decode", batch): callable}, compiled and run once before any timing."""
    dtype = DTYPES[dtype_name]
    unet = copy.deepcopy(unet32).to(dtype) if dtype != torch.float32 else unet32
    decoder = copy.deepcopy(decoder32).to(dtype) if dtype != torch.float32 else decoder32
    if compiled:
        import torch._inductor.config as inductor_config
        inductor_config.freezing = True
        unet = torch.compile(unet, dynamic=False)
        decoder = torch.compile(decoder, dynamic=False)
    scheduler = copy.deepcopy(scheduler)
    scheduler.set_timesteps(50)
    t = scheduler.timesteps[25]
    calls = {}
    for b in batches:
        latents = torch.randn(b, *latent_shape, generator=torch.Generator().manual_seed(b)).to(dtype)

        def step(latents=latents):
            noise = unet(latents, t).sample
            return scheduler.step(noise, t, latents, eta=0.0).prev_sample

        calls[("step", b)] = step
        calls[("decode", b)] = (lambda d, x: lambda: d(x))(decoder, latents)
        with torch.no_grad():
            step()
            calls[("decode", b)]()
    return calls


def timed_ms(fn, repeats):
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def google_benchmark(cmd):
    out = subprocess.run(cmd + ["--benchmark_format=json", "--benchmark_min_time=0.01"], capture_output=True,
                         text=True, check=True).stdout
    result = {}
    for b in json.loads(out)["benchmarks"]:
        assert b["time_unit"] == "ms"
        result[int(b["name"].split("/")[2].split(":")[1])] = b["real_time"]
    return result


def ddim_step_ms(bench, model, dtype_name, batches):
    total = {s: google_benchmark([bench, f"--model={model}", f"--batches={','.join(map(str, batches))}",
                                  f"--steps={s}", f"--dtype={dtype_name}", "--backends=aoti", "--warmup=1"])
             for s in STEPS}
    per_step = {b: (total[STEPS[1]][b] - total[STEPS[0]][b]) / (STEPS[1] - STEPS[0]) for b in batches}
    for b, ms in per_step.items():
        if ms <= 0:
            sys.exit(f"latent_vs_diffusers: ddim's {STEPS[1]}-step run at batch {b} took no longer than its "
                     f"{STEPS[0]}-step run ({total[STEPS[1]][b]:.1f} <= {total[STEPS[0]][b]:.1f} ms): the machine is "
                     "too busy to time on, or the model too small")
    return per_step


def ddim_decode_ms(bench, model, batches):
    return google_benchmark([bench, f"--model={model}", f"--batches={','.join(map(str, batches))}", "--backends=aoti"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="the diffusers LDMPipeline folder")
    parser.add_argument("--model", required=True, help="its ddim export (scripts/export_model.py)")
    args, batches, dtype_names, runtimes = comparison_args(parser, "latent_vs_diffusers", DTYPES, RUNTIMES, "1,4", 3,
                                                           2, "steps")
    export = json.load(open(os.path.join(args.model, "ddim_export.json")))
    if "ddim" in runtimes:
        missing = [d for d in dtype_names if d not in export.get("dtypes", [export.get("dtype", "float32")])]
        if missing or "aoti" not in export.get("formats", []) or "aoti" not in export.get("vae", {}).get("formats", []):
            sys.exit(f"latent_vs_diffusers: {args.model} lacks the AOTInductor packages for {', '.join(dtype_names)} "
                     f"(scripts/export_model.py SRC DIR --dtype {','.join(dtype_names)})")

    fields, flags, mhz_ghz = cpuinfo()
    name, cpu = fields.get("model name", "unknown CPU"), cpu_identity()
    ghz = args.ghz or mhz_ghz
    cores = torch.get_num_threads()
    torch.set_num_threads(cores)
    unet32, vqvae, scheduler = load_source(args.src)
    decoder32 = Decoder(vqvae).eval()
    latent_shape = (unet32.config.in_channels, unet32.config.sample_size, unet32.config.sample_size)
    x = torch.randn(1, *latent_shape)
    flops = {"step": flops_per_image(unet32, x, torch.tensor([500])), "decode": flops_per_image(decoder32, x)}
    fp32_peak, bf16_peak, peak_source = cpu_peaks(args, fields, flags, ghz, cores)
    isa = " ".join(sorted(f for f in flags if f in DTYPE_SPEED_FEATURES))
    print(f"CPU: {cpu}; {cores} threads at {ghz:.2f} GHz; peaks: {peak_source}; "
          f"UNet {flops['step'] / 1e9:.1f} GFLOP, decode "
          f"{flops['decode'] / 1e9:.1f} GFLOP per image", file=sys.stderr)

    prepared = {}
    for dtype_name in dtype_names:
        for name in ("eager", "compile"):
            if name in runtimes:
                print(f"preparing {name} {dtype_name}", file=sys.stderr)
                prepared[(name, dtype_name)] = python_calls(unet32, decoder32, scheduler, dtype_name,
                                                            name == "compile", batches, latent_shape)

    samples = {}
    add = lambda key, value: samples.setdefault(key, []).append(value)
    for r in range(args.rounds):
        for (name, dtype_name), calls in prepared.items():
            for b in batches:
                add(("step", name, dtype_name, b), timed_ms(calls[("step", b)], args.repeats))
                add(("decode", name, dtype_name, b), timed_ms(calls[("decode", b)], 1))
        if "ddim" in runtimes:
            for dtype_name in dtype_names:
                for b, ms in ddim_step_ms(os.path.join(args.bin, "bench_unet"), args.model, dtype_name,
                                          batches).items():
                    add(("step", "ddim", dtype_name, b), ms)
            for b, ms in ddim_decode_ms(os.path.join(args.bin, "bench_vae"), args.model, batches).items():
                for dtype_name in dtype_names:
                    add(("decode", "ddim", dtype_name, b), ms)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    print(f"\n{cpu}; {cores} threads, {ghz:.2f} GHz; peaks: {peak_source}; src {args.src}; "
          f"UNet {flops['step'] / 1e9:.1f} GFLOP and "
          f"decode {flops['decode'] / 1e9:.1f} GFLOP per image; medians of {args.rounds} rounds; torch {torch.__version__}")
    print("ms per step and per decode; x = the best peer's time / this one's; % = of the dtype's peak "
          "(ddim's decode: float32 in both rows)")
    rows = []
    for what in ("step", "decode"):
        for dtype_name in dtype_names:
            peak = bf16_peak if dtype_name == "bfloat16" else fp32_peak
            for b in batches:
                ms = {name: statistics.median(v) for (w, name, d, bb), v in samples.items()
                      if w == what and d == dtype_name and bb == b}
                peers = {k: v for k, v in ms.items() if k != "ddim"}
                best_name = min(peers, key=peers.get) if peers else None
                best = peers.get(best_name)
                row = {"what": what, "dtype": dtype_name, "batch": b, "label": f"{what}, {dtype_name}, batch {b}",
                       "ms": ms, "best_peer": best_name, "best_peer_ms": best,
                       "peak_fraction": {k: flops[what] * b / (v / 1e3) / (fp32_peak if k == "ddim" and what == "decode"
                                                                          else peak)
                                         for k, v in ms.items()} if peak else {}}
                rows.append(row)
                cells = []
                for name in runtimes:
                    if name in ms:
                        frac = f", {row['peak_fraction'][name] * 100:.0f} %" if peak else ""
                        ratio = f" {best / ms[name]:.2f}x" if best else ""
                        cells.append(f"{name} {ms[name]:.0f}{ratio}{frac}")
                print(f"{what:>6} {dtype_name:>8} batch {b:>2}: " + "; ".join(cells))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"src": args.src, "model": args.model, "cpu": cpu, "isa": isa, "threads": cores, "ghz": ghz,
                       "gflop_per_image": {k: v / 1e9 for k, v in flops.items()},
                       "peak_gflops": {"float32": fp32_peak / 1e9, "bfloat16": bf16_peak / 1e9 if bf16_peak else None},
                       "peak_source": peak_source, "torch": torch.__version__, "rounds": args.rounds, "rows": rows,
                       "samples": {"/".join(map(str, k)): v for k, v in samples.items()}}, f, indent=2)
    if args.svg:
        chart(rows, runtimes, args.svg, f"latent model (ldm-celebahq-256's architecture): speed as a multiple of "
                                        f"the best peer's ({name}, {cores} threads; 1 = the best peer)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
