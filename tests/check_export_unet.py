#!/usr/bin/env python3
"""scripts/export_unet.py refuses bad input with one line and a non-zero exit, and leaves nothing behind.

    check_export_unet.py SOURCE_DIR TINY_SRC
"""
import os
import subprocess
import sys
import tempfile


def run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True)


def main():
    src_dir, tiny = sys.argv[1], sys.argv[2]
    script = os.path.join(src_dir, "scripts", "export_unet.py")
    failures = []
    with tempfile.TemporaryDirectory() as work:
        # A source that is neither a pipeline nor a UNet folder.
        empty = os.path.join(work, "empty")
        os.makedirs(empty)
        r = run(script, empty, os.path.join(work, "out1"))
        if r.returncode == 0 or "neither a pipeline folder" not in r.stderr:
            failures.append(f"empty source: rc {r.returncode}, stderr {r.stderr!r}")
        # An existing, non-empty output folder is not overwritten without --overwrite.
        busy = os.path.join(work, "busy")
        os.makedirs(busy)
        open(os.path.join(busy, "keep.txt"), "w").write("x")
        r = run(script, tiny, busy)
        if r.returncode == 0 or "not empty" not in r.stderr or not os.path.exists(os.path.join(busy, "keep.txt")):
            failures.append(f"busy output: rc {r.returncode}, stderr {r.stderr!r}")
        # A good export, then nothing but the model folder is left in the parent.
        r = run(script, tiny, os.path.join(work, "model"))
        expected = {"model_index.json", "unet", "scheduler", "ddim_export.json"}
        if (r.returncode != 0 or set(os.listdir(os.path.join(work, "model"))) != expected
                or set(os.listdir(os.path.join(work, "model", "unet"))) != {"config.json", "model.pt2"}):
            failures.append(f"good export: rc {r.returncode}, stderr {r.stderr[-300:]!r}")
        leftovers = [n for n in os.listdir(work) if n.startswith(".export-")]
        if leftovers:
            failures.append(f"temporary folders left: {leftovers}")
        # A bare UNet folder: the scheduler config is a default DDIMScheduler one.
        r = run(script, os.path.join(tiny, "unet"), os.path.join(work, "bare"), "--format", "torchscript")
        cfg = os.path.join(work, "bare", "scheduler", "scheduler_config.json")
        if r.returncode != 0 or '"DDIMScheduler"' not in open(cfg).read():
            failures.append(f"bare UNet folder: rc {r.returncode}, stderr {r.stderr[-300:]!r}")
        # A ddim model folder (weights read back from its TorchScript file) exports again.
        r = run(script, os.path.join(work, "bare"), os.path.join(work, "again"), "--format", "torchscript")
        if r.returncode != 0 or not os.path.isfile(os.path.join(work, "again", "unet", "model.pt")):
            failures.append(f"ddim folder as source: rc {r.returncode}, stderr {r.stderr[-300:]!r}")
        # Option values the compiler would see are checked first.
        for bad, words in ((["--threads", "-1"], "--threads -1"), (["--march", "x; rm -rf /"], "--march")):
            r = run(script, tiny, os.path.join(work, "bad"), *bad)
            if r.returncode == 0 or words not in r.stderr or os.path.exists(os.path.join(work, "bad")):
                failures.append(f"{bad}: rc {r.returncode}, stderr {r.stderr!r}")
        # --device cuda without a GPU is a one-line refusal.
        if not __import__("torch").cuda.is_available():
            r = run(script, tiny, os.path.join(work, "cuda"), "--device", "cuda")
            if r.returncode == 0 or "CUDA" not in r.stderr or os.path.exists(os.path.join(work, "cuda")):
                failures.append(f"cuda without GPU: rc {r.returncode}, stderr {r.stderr!r}")
    for f in failures:
        print("FAIL", f)
    print(f"export_unet checks: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
