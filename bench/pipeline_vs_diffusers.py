#!/usr/bin/env python3
"""Time per DDIM step: ddim's DDIMPipeline (AOTInductor package and TorchScript) beside diffusers'
DDIMPipeline on the same weights, in one run, plus ddim-generate's start-up time.

    .venv/bin/python bench/pipeline_vs_diffusers.py [--model models/digits] [--batches 1,16]
        [--steps 10] [--rounds 5] [--bin build/bin] [--json results.json]

--model is a ddim model folder with unet/model.pt2 and unet/model.pt (scripts/export_unet.py
--format both, or models/digits after scripts/setup.sh); diffusers runs the UNet2DModel rebuilt
from its config and the weights in model.pt, eager, float32, with the folder's scheduler config.
Each round runs diffusers, then build/bin/bench_unet (both backends), then the start-up probe;
times are medians over rounds, speed-ups the median of the rounds' speed-ups. Per step = one generate() of --steps steps / --steps (noise,
UNet calls, scheduler steps, decoding). Start-up = wall time of `ddim-generate -n 1 --steps 1`
(process start, library and model load, one step, one PNG) and of `ddim-generate --version`
(process start and library load only). Run it on an otherwise idle machine.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import diffusers
from diffusers import DDIMPipeline, DDIMScheduler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from export_unet import load_ddim_folder  # noqa: E402


def diffusers_per_step(pipe, batch, steps, repeats=3):
    def run():
        pipe(batch_size=batch, num_inference_steps=steps, generator=torch.Generator().manual_seed(0),
             output_type="np")
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / steps * 1e3


def ddim_per_step(bench, model, batches, steps):
    out = subprocess.run([bench, f"--model={model}", f"--batches={','.join(map(str, batches))}", f"--steps={steps}",
                          "--benchmark_format=json", "--benchmark_min_time=1s"],
                         capture_output=True, text=True, check=True).stdout
    result = {}
    for b in json.loads(out)["benchmarks"]:
        _, backend, batch = b["name"].split("/")
        assert b["time_unit"] == "ms"
        result[(backend, int(batch.split(":")[1]))] = b["real_time"] / steps
    return result


def wall(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/digits")
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bin", default="build/bin")
    parser.add_argument("--json", help="write the medians here")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    for name in ("model.pt2", "model.pt"):
        if not os.path.isfile(os.path.join(args.model, "unet", name)):
            sys.exit(f"pipeline_vs_diffusers: {args.model}/unet/{name} missing (export with --format both)")

    torch.set_num_threads(torch.get_num_threads())
    unet = load_ddim_folder(args.model).eval()
    config = json.load(open(os.path.join(args.model, "scheduler", "scheduler_config.json")))
    pipe = DDIMPipeline(unet=unet, scheduler=DDIMScheduler.from_config(config))
    pipe.set_progress_bar_config(disable=True)

    # A copy of the folder without the package: ddim-generate's TorchScript start-up.
    work = tempfile.mkdtemp(prefix="ddim-bench-")
    ts_model = os.path.join(work, "model")
    shutil.copytree(args.model, ts_model, ignore=shutil.ignore_patterns("model.pt2"))
    tool = os.path.join(args.bin, "ddim-generate")
    png = os.path.join(work, "x.png")

    samples = {}
    def add(key, value):
        samples.setdefault(key, []).append(value)
    try:
        for r in range(args.rounds):
            with torch.no_grad():
                for batch in batches:
                    add(("diffusers", batch), diffusers_per_step(pipe, batch, args.steps))
            for key, value in ddim_per_step(os.path.join(args.bin, "bench_unet"), args.model, batches,
                                            args.steps).items():
                add(key, value)
            add(("startup", "aoti"), wall([tool, "--model", args.model, "-n", "1", "--steps", "1", "--seed", "0",
                                           "-q", "-o", png]))
            add(("startup", "torchscript"), wall([tool, "--model", ts_model, "-n", "1", "--steps", "1", "--seed", "0",
                                                  "-q", "-o", png]))
            add(("startup", "version"), wall([tool, "--version"]))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"model {args.model}, {args.steps} steps, {torch.get_num_threads()} threads, medians of {args.rounds} "
          f"rounds (torch {torch.__version__}, diffusers {diffusers.__version__})")
    print(f"{'batch':>5}  {'diffusers ms/step':>17}  {'ddim aoti':>9}  {'ddim torchscript':>16}  "
          f"{'aoti speed-up':>13}  {'torchscript speed-up':>20}")
    rows = []
    for batch in batches:
        d, a, t = med[("diffusers", batch)], med[("aoti", batch)], med[("torchscript", batch)]
        # The speed-up of each round (both sides timed minutes apart), then their median: steadier
        # on a shared machine than a ratio of medians.
        speedup = {backend: statistics.median(x / y for x, y in zip(samples[("diffusers", batch)],
                                                                     samples[(backend, batch)]))
                   for backend in ("aoti", "torchscript")}
        rows.append({"batch": batch, "diffusers_ms": d, "aoti_ms": a, "torchscript_ms": t,
                     "aoti_speedup": speedup["aoti"], "torchscript_speedup": speedup["torchscript"]})
        print(f"{batch:>5}  {d:>17.2f}  {a:>9.2f}  {t:>16.2f}  {speedup['aoti']:>12.2f}x  "
              f"{speedup['torchscript']:>19.2f}x")
    startup = {k[1]: v for k, v in med.items() if k[0] == "startup"}
    print(f"ddim-generate start-up (-n 1 --steps 1): aoti {startup['aoti']:.2f} s, torchscript "
          f"{startup['torchscript']:.2f} s; --version alone {startup['version']:.2f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "steps": args.steps, "rounds": args.rounds,
                       "threads": torch.get_num_threads(), "rows": rows, "startup_s": startup,
                       "samples": {f"{k[0]}/{k[1]}": v for k, v in samples.items()}}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
