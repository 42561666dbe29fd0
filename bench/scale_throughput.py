"""Throughput and peak memory of ddim-generate on dataset-sized runs: N images at several batch sizes.

    .venv/bin/python bench/scale_throughput.py [--images 1000] [--batch-sizes 1,16,64] [--steps 50]
                                               [--rounds 1] [--model DIR] [--bin build/bin]
                                               [--shards 1,2 --shard-model DIR]

Each run writes its PNGs and sidecars to a temporary folder (removed after); images/s is N over the
wall time of the whole process (start-up, model load and every write included), peak RSS is the
process's maximum resident set (os.wait4). Medians over --rounds. Run it on an idle machine.

--shards P runs the same N images as P processes at once (`--shard i/P`, OMP_NUM_THREADS = cores / P
each): images/s is N over the wall time until the last one ends, peak RSS the sum of theirs. An
AOTInductor package keeps the thread count it was compiled with, so P > 1 runs --shard-model, a folder
exported with `--threads` = cores / P (scripts/export_unet.py models/digits DIR --format both
--threads 1); P = 1 runs --model.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time


def one_run(gen, model, images, batch, steps, shards=1):
    """(images/s, peak RSS in MiB summed over the processes) of N images made by `shards` processes."""
    out = tempfile.mkdtemp(prefix="ddim-scale-")
    try:
        cmd = [gen, "-n", str(images), "--batch-size", str(batch), "--steps", str(steps), "--seed", "1",
               "-o", os.path.join(out, "img_%05d.png"), "-q"]
        if model:
            cmd[1:1] = ["--model", model]
        env = dict(os.environ)
        if shards > 1:
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // shards))
        start = time.perf_counter()
        procs = {}
        for i in range(shards):
            shard_cmd = cmd + (["--shard", f"{i}/{shards}"] if shards > 1 else [])
            proc = subprocess.Popen(shard_cmd, stderr=subprocess.PIPE, env=env)
            procs[proc.pid] = (proc, shard_cmd)
        rss = 0.0
        while procs:
            pid, status, usage = os.wait4(-1, 0)
            if pid not in procs:
                continue
            proc, shard_cmd = procs.pop(pid)
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"{' '.join(shard_cmd)} failed: {proc.stderr.read().decode()}")
            rss += usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux
        wall = time.perf_counter() - start
        written = len([n for n in os.listdir(out) if n.endswith(".png")])
        if written != images:
            raise SystemExit(f"{written} images written, expected {images}")
        return images / wall, rss
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--batch-sizes", default="1,16,64")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--model", default="")
    parser.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "bin"))
    parser.add_argument("--shards", default="1", help="process counts to compare, e.g. 1,2")
    parser.add_argument("--shard-model", default="", help="the model folder the runs of more than one process use")
    args = parser.parse_args()
    gen = os.path.join(args.bin, "ddim-generate")
    batches = [int(b) for b in args.batch_sizes.split(",")]
    shard_counts = [int(p) for p in args.shards.split(",")]
    if any(p < 1 for p in shard_counts):
        parser.error(f"--shards {args.shards}: each count must be >= 1")
    if any(p > 1 for p in shard_counts) and not args.shard_model:
        parser.error(f"--shards {args.shards} needs --shard-model DIR, exported with --threads cores/P")
    results = {(p, b): [] for p in shard_counts for b in batches}
    for r in range(args.rounds):
        for p in shard_counts:
            for b in batches:
                rate, rss = one_run(gen, args.shard_model if p > 1 else args.model, args.images, b, args.steps, p)
                results[(p, b)].append((rate, rss))
                print(f"round {r + 1}: {p} process(es), batch {b}: {rate:.2f} images/s, peak RSS {rss:.0f} MiB",
                      flush=True)
    print(f"\n| processes | batch size | images/s | peak RSS (MiB, summed) |   ({args.images} images, "
          f"{args.steps} steps, median of {args.rounds}; {os.cpu_count()} cores)")
    print("|---:|---:|---:|---:|")
    for p in shard_counts:
        for b in batches:
            print(f"| {p} | {b} | {statistics.median(x[0] for x in results[(p, b)]):.2f} | "
                  f"{statistics.median(x[1] for x in results[(p, b)]):.0f} |")


if __name__ == "__main__":
    main()
