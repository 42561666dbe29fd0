#!/usr/bin/env python3
"""Scheduler step time, ddim (C++) next to diffusers (Python), in one run.

    .venv/bin/python bench/scheduler_vs_diffusers.py [--device cpu|cuda] [--bench build/bin/bench_schedulers]

Both sides time the same work (medians: 5 repetitions in C++, runs over at least a second in Python): set_timesteps(50) outside the clock, then the 50 steps of a
sampling (or inversion) loop with a fixed model output, default config, float32. Prints a
markdown table of microseconds per step and the ratio diffusers / ddim.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

import torch
import diffusers

STEPS = 50
SHAPES = {"1x3x32x32": (1, 3, 32, 32), "4x4x64x64": (4, 4, 64, 64)}


def time_diffusers(cls_name, shape, device, min_time=1.0):
    cls = getattr(diffusers, cls_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = cls()
    sample = torch.randn(shape, device=device)
    model_output = torch.randn(shape, device=device) * 0.5
    runs = []
    spent = 0.0
    with torch.inference_mode():
        while spent < min_time or len(runs) < 5:
            sched.set_timesteps(STEPS, device=device)
            x = sample
            start = time.perf_counter()
            for t in sched.timesteps:
                x = sched.step(model_output, t, x).prev_sample
            if device == "cuda":
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
            runs.append(elapsed / len(sched.timesteps) * 1e6)
            spent += elapsed
    return statistics.median(runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    parser.add_argument("--bench", default=os.path.join(root, "build", "bin", "bench_schedulers"))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()

    cmd = [args.bench, "--benchmark_format=json", "--benchmark_min_time=0.5s", "--benchmark_repetitions=5",
           "--benchmark_report_aggregates_only=true"]
    if args.device == "cuda":
        cmd.append("--device=cuda")
    ours = {}
    for b in json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            ours[b["run_name"]] = b["us_per_step"]

    print(f"torch {torch.__version__}, diffusers {diffusers.__version__}, {args.device}, "
          f"{torch.get_num_threads()} threads, {STEPS}-step loop, float32\n")
    print("| scheduler | shape | diffusers µs/step | ddim µs/step | speed-up |")
    print("|---|---|---:|---:|---:|")
    for name in sorted(ours):
        cls_name, shape_name = name.split("/")
        theirs = time_diffusers(cls_name, SHAPES[shape_name], args.device)
        print(f"| {cls_name} | {shape_name} | {theirs:.1f} | {ours[name]:.1f} | {theirs / ours[name]:.1f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
