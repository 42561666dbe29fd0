"""Throughput and peak memory of ddim-generate on dataset-sized runs: N images at several batch sizes.

    .venv/bin/python bench/scale_throughput.py [--images 1000] [--batch-sizes 1,16,64] [--steps 50]
                                               [--rounds 1] [--model DIR] [--bin build/bin]

Each run writes its PNGs and sidecars to a temporary folder (removed after); images/s is N over the
wall time of the whole process (start-up, model load and every write included), peak RSS is the
process's maximum resident set (os.wait4). Medians over --rounds. Run it on an idle machine.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time


def one_run(gen, model, images, batch, steps):
    out = tempfile.mkdtemp(prefix="ddim-scale-")
    try:
        cmd = [gen, "-n", str(images), "--batch-size", str(batch), "--steps", str(steps), "--seed", "1",
               "-o", os.path.join(out, "img_%05d.png"), "-q"]
        if model:
            cmd[1:1] = ["--model", model]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()}")
        written = len([n for n in os.listdir(out) if n.endswith(".png")])
        if written != images:
            raise SystemExit(f"{written} images written, expected {images}")
        return images / wall, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux
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
    args = parser.parse_args()
    gen = os.path.join(args.bin, "ddim-generate")
    batches = [int(b) for b in args.batch_sizes.split(",")]
    results = {b: [] for b in batches}
    for r in range(args.rounds):
        for b in batches:
            rate, rss = one_run(gen, args.model, args.images, b, args.steps)
            results[b].append((rate, rss))
            print(f"round {r + 1}: batch {b}: {rate:.2f} images/s, peak RSS {rss:.0f} MiB", flush=True)
    print(f"\n| batch size | images/s | peak RSS (MiB) |   ({args.images} images, {args.steps} steps, "
          f"median of {args.rounds})")
    print("|---:|---:|---:|")
    for b in batches:
        print(f"| {b} | {statistics.median(x[0] for x in results[b]):.2f} | "
              f"{statistics.median(x[1] for x in results[b]):.0f} |")


if __name__ == "__main__":
    main()
