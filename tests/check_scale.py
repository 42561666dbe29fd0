#!/usr/bin/env python3
"""Dataset-scale runs of the tools on the tiny exported model: micro-batches, shards, resume.

    check_scale.py BIN_DIR TINY_FIXTURE_DIR

- ddim-generate -n N --batch-size B: batch k is the run `-n <its size> --seed S+k` (which the
  pipeline tests hold to diffusers), image for image;
- three `--shard i/3` processes at once make exactly the files, byte for byte, of one process;
- a run killed with SIGKILL part-way and run again with --resume ends byte-identical to an
  uninterrupted run, with no partial or temporary file left;
- ddim-invert over folders (recursive, sorted) and @lists with --output-dir: one latents file
  and sidecar per image and manifest.jsonl; shards and resume as for ddim-generate; an unreadable
  image inside a folder is skipped with a warning and exit status 1;
- bad shard and resume options: non-zero exit, one line on stderr, nothing written.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# The same checks and runner as the tools' test beside this one.
from check_tools import check, failures, run


def tree(folder):
    """{relative path: sha256} of every file under folder."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            out[os.path.relpath(path, folder)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


def check_invert(bin_dir, model, w, folder):
    import numpy as np
    from PIL import Image

    inv = os.path.join(bin_dir, "ddim-invert")
    common = ["--model", model, "--steps", "3", "-q"]
    data = folder("data")
    rng = np.random.default_rng(0)
    names = ["a.png", "b.jpg", "sub/c.png", "sub/deeper/d.jpeg", "e.png", "f.png", "g.png"]
    for name in names:
        os.makedirs(os.path.join(data, os.path.dirname(name)), exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(os.path.join(data, name))
    open(os.path.join(data, "notes.txt"), "w").write("not an image, not listed")
    keys = sorted(names)

    def invert(out, *extra, cwd=None, env=None):
        return run([inv, *common, "--batch-size", "3", data, "--output-dir", out, *extra], cwd or w, env)

    whole = os.path.join(w, "inv_whole")
    r = invert(whole, "--reconstruct", os.path.join(w, "inv_rec"))
    check(r.returncode == 0, f"invert a folder: {r.stderr}")
    manifest = [json.loads(l) for l in open(os.path.join(whole, "manifest.jsonl"))]
    check([m["latents"] for m in manifest] == [k + ".pt" for k in keys], f"manifest order: {manifest}")
    check(all(m["input"] == os.path.join(data, k) and m["psnr_db"] > 0 for m, k in zip(manifest, keys)),
          f"manifest entries: {manifest[:2]}")
    lat = torch_load(os.path.join(whole, "sub/deeper/d.jpeg.pt"))
    check(tuple(lat.shape) == (1, 3, 16, 16), f"one latents file per image: {tuple(lat.shape)}")

    # Without --reconstruct, for the shard and resume checks.
    plain = os.path.join(w, "inv_plain")
    check(invert(plain).returncode == 0, "invert without --reconstruct")
    reference = tree(plain)
    procs = [subprocess.Popen([inv, *common, "--batch-size", "3", data, "--output-dir", os.path.join(w, "inv_sharded"),
                               "--shard", f"{i}/3"], cwd=w, stderr=subprocess.PIPE, text=True) for i in range(3)]
    for p in procs:
        _, err = p.communicate()
        check(p.returncode == 0, f"invert shard: {err}")
    sharded = tree(os.path.join(w, "inv_sharded"))
    shard_manifests = [n for n in sharded if n.startswith("manifest.shard-")]
    check(len(shard_manifests) == 3, f"one manifest per shard: {shard_manifests}")
    for n in shard_manifests:
        del sharded[n]
    lines = sorted(l for n in shard_manifests for l in open(os.path.join(w, "inv_sharded", n)))
    check(lines == sorted(open(os.path.join(plain, "manifest.jsonl"))), "shard manifests together are the manifest")
    del reference["manifest.jsonl"]
    check(sharded == reference, "3 invert shards differ from one process")

    # @list.txt: files and comments; the same latents as the folder run for the same batches.
    listed = os.path.join(w, "list.txt")
    open(listed, "w").write("# three of them\n" + "\n".join(os.path.join(data, n) for n in ["a.png", "b.jpg", "e.png"]) + "\n\n")
    r = run([inv, *common, "@" + listed, "--output-dir", os.path.join(w, "inv_list")], w)
    check(r.returncode == 0 and sorted(os.listdir(os.path.join(w, "inv_list"))) ==
          sorted(["a.png.pt", "a.png.pt.json", "b.jpg.pt", "b.jpg.pt.json", "e.png.pt", "e.png.pt.json",
                  "manifest.jsonl"]), f"@list: {r.stderr} {os.listdir(os.path.join(w, 'inv_list'))}")

    # Resume after SIGKILL.
    killed = os.path.join(w, "inv_killed")
    p = subprocess.Popen([inv, *common, "--batch-size", "1", data, "--output-dir", killed], cwd=w,
                         stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    # Count names only: reading a file would race with the tool renaming its temp files.
    while time.time() < deadline and p.poll() is None and len(os.listdir(killed) if os.path.isdir(killed) else []) < 5:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    r = run([inv, *common, "--batch-size", "1", data, "--output-dir", killed, "--resume"], w)
    check(r.returncode == 0, f"invert --resume: {r.stderr}")
    one_by_one = os.path.join(w, "inv_one_by_one")
    check(run([inv, *common, "--batch-size", "1", data, "--output-dir", one_by_one], w).returncode == 0, "batch 1 run")
    check(tree(killed) == tree(one_by_one), "resumed invert differs from an uninterrupted one")
    strays = [n for n in tree(killed) if os.path.basename(n).startswith(".")]
    check(not strays, f"stray files after invert --resume: {strays}")

    # An unreadable image inside a folder: a warning, the others inverted, exit 1, listed with its error.
    bad_data = folder("bad_data")
    shutil.copy(os.path.join(data, "a.png"), os.path.join(bad_data, "a.png"))
    open(os.path.join(bad_data, "broken.png"), "w").write("not a PNG")
    r = run([inv, *common, bad_data, "--output-dir", os.path.join(w, "inv_bad")], w)
    manifest = [json.loads(l) for l in open(os.path.join(w, "inv_bad", "manifest.jsonl"))]
    check(r.returncode == 1 and "broken.png" in r.stderr and "error" in manifest[1] and "latents" in manifest[0],
          f"unreadable image in a folder: rc {r.returncode} {r.stderr!r} {manifest}")

    empty = folder("empty_data")
    open(os.path.join(w, "a_file"), "w").write("x")
    os.makedirs(os.path.join(w, "bad_inv"))
    cases = [
        ("a folder with no images", [empty, "--output-dir", "o1"]),
        ("--output-dir is a file", [data, "--output-dir", os.path.join(w, "a_file")]),
        ("--shard without --output-dir", [data, "--shard", "0/2", "-o", "x.pt"]),
        ("--resume without --output-dir", [data, "--resume", "-o", "x.pt"]),
        ("-o and --output-dir", [data, "-o", "x.pt", "--output-dir", "o2"]),
        ("two inputs with one name", [os.path.join(data, "a.png"), os.path.join(bad_data, "a.png"), "--output-dir", "o3"]),
        ("--shard 3/2", [data, "--output-dir", "o4", "--shard", "3/2"]),
        ("a missing @list", ["@" + os.path.join(w, "nope.txt"), "--output-dir", "o5"]),
    ]
    for name, args in cases:
        where = os.path.join(w, "bad_inv")
        r = run([inv, *common, *args], where)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        check(r.returncode != 0 and len(lines) == 1 and not os.listdir(where),
              f"invert {name}: rc {r.returncode}, stderr {r.stderr!r}, left {os.listdir(where)}")
        print(f"ok   invert {name}: exit {r.returncode}: {lines[0] if lines else ''}")
    r = run([inv, *common, "--batch-size", "3", data, "--output-dir", plain, "--resume", "--resize"], w)
    check(r.returncode != 0 and "resize" in r.stderr, f"invert --resume with other options: {r.stderr!r}")


def check_examples(bin_dir, model, w, folder):
    """examples/cluster: the Slurm array script and the Indexed Job's command, run as their schedulers would."""
    import yaml

    examples = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "cluster")
    gen = os.path.join(bin_dir, "ddim-generate")
    single = folder("example_single")
    r = run([gen, "--model", model, "-n", "7", "--batch-size", "3", "--seed", "11", "--steps", "4",
             "-o", os.path.join(single, "img_%07d.png"), "-q"], w)
    check(r.returncode == 0, f"example reference run: {r.stderr}")
    out = os.path.join(w, "example_slurm")
    for task in (4, 5, 6):  # --array=4-6
        env = dict(os.environ, SLURM_ARRAY_TASK_ID=str(task), SLURM_ARRAY_TASK_MIN="4", SLURM_ARRAY_TASK_COUNT="3",
                   DDIM_BIN=bin_dir, MODEL=model, IMAGES="7", BATCH_SIZE="3", SEED="11", STEPS="4", OUT=out)
        r = run(["bash", os.path.join(examples, "slurm_generate.sbatch")], w, env)
        check(r.returncode == 0, f"slurm_generate.sbatch task {task}: {r.stderr}")
    check(tree(out) == tree(single), "the Slurm example's tasks together differ from one process")

    job = yaml.safe_load(open(os.path.join(examples, "k8s_invert_job.yaml")))
    spec = job["spec"]
    container = spec["template"]["spec"]["containers"][0]
    data, latents = os.path.join(w, "data"), os.path.join(w, "example_k8s")
    args = [a.replace("/data/images", data).replace("/data/latents", latents) for a in container["args"]]
    args = [os.path.join(bin_dir, container["command"][0]), "--model", model, *args]
    for index in range(spec["completions"]):
        r = run(args, w, dict(os.environ, JOB_COMPLETION_INDEX=str(index)))
        check(r.returncode == 0, f"k8s_invert_job.yaml index {index}: {r.stderr}")
    unsharded = os.path.join(w, "example_k8s_single")
    plain = [a for a in args if a not in ("auto", "--shard", "--shards", "--resume", str(spec["completions"]))]
    r = run([a.replace(latents, unsharded) for a in plain], w)
    check(r.returncode == 0, f"k8s example unsharded: {r.stderr}")
    sharded = {k: v for k, v in tree(latents).items() if not k.startswith("manifest")}
    whole = {k: v for k, v in tree(unsharded).items() if not k.startswith("manifest")}
    check(spec["completionMode"] == "Indexed" and sharded == whole and len(whole) == 14,
          "the Indexed Job's pods together differ from one process")


def rss_mib(pid):
    """The process's resident memory in MiB (VmRSS), or None once it is gone."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def check_huge_count(gen, model, w):
    """-n 100000000: images are named batch by batch, so memory does not grow with the count (it
    reached 6.9 GB within 10 s when every name was made up front); Ctrl-C then ends it cleanly, its
    finished images written."""
    p = subprocess.Popen([gen, "--model", model, "--steps", "1", "-n", "100000000", "--seed", "1", "-q",
                          "-o", os.path.join(w, "i_%09d.png")], stderr=subprocess.PIPE, text=True)
    peak, start = 0.0, time.time()
    while time.time() - start < 10 and p.poll() is None:
        peak = max(peak, rss_mib(p.pid) or 0)
        time.sleep(0.1)
    if not check(p.poll() is None, f"-n 100000000 ended early (rc {p.returncode})"):
        print(p.communicate()[1])
        return
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    print(f"-n 100000000: peak resident memory {peak:.0f} MiB in 10 s")
    check(peak < 1024, f"-n 100000000: resident memory reached {peak:.0f} MiB within 10 s (limit 1024)")
    check(p.returncode == 130, f"-n 100000000 after Ctrl-C: rc {p.returncode}, {err.strip()}")
    made = [n for n in os.listdir(w) if n.endswith(".png")]
    check(len(made) > 0, "-n 100000000: no image written in 10 s")
    check(not [n for n in os.listdir(w) if n.startswith(".")], "-n 100000000: temporary files left after Ctrl-C")


def torch_load(path):
    import torch
    return torch.load(path)


def main():
    bin_dir, fixture = sys.argv[1], sys.argv[2]
    gen = os.path.join(bin_dir, "ddim-generate")
    model = os.path.join(fixture, "model")
    common = ["--model", model, "--steps", "4", "-q"]
    with tempfile.TemporaryDirectory() as w:
        def folder(name):
            path = os.path.join(w, name)
            os.makedirs(path, exist_ok=True)
            return path

        # One process: 7 images in batches of 3 (3 + 3 + 1).
        whole = folder("whole")
        r = run([gen, *common, "-n", "7", "--batch-size", "3", "--seed", "11", "-o", "img_%02d.png"], whole)
        check(r.returncode == 0, f"-n 7 --batch-size 3: {r.stderr}")
        reference = tree(whole)
        check(len(reference) == 14, f"7 images and 7 sidecars: {sorted(reference)}")

        # Batch k alone: -n <its size> --seed 11 + k gives the same image bytes.
        for k, (first, size) in enumerate([(0, 3), (3, 3), (6, 1)]):
            alone = folder(f"batch{k}")
            r = run([gen, *common, "-n", str(size), "--seed", str(11 + k), "-o", "img_%02d.png"], alone)
            check(r.returncode == 0, f"batch {k} alone: {r.stderr}")
            for j in range(size):
                check(tree(alone).get(f"img_{j:02d}.png") == reference.get(f"img_{first + j:02d}.png"),
                      f"image {first + j} of the run differs from image {j} of `-n {size} --seed {11 + k}`")

        # Three shards as parallel processes: the union is the one-process run, byte for byte.
        sharded = folder("sharded")
        procs = [subprocess.Popen([gen, *common, "-n", "7", "--batch-size", "3", "--seed", "11", "-o", "img_%02d.png",
                                   "--shard", f"{i}/3"], cwd=sharded, stderr=subprocess.PIPE, text=True)
                 for i in range(3)]
        for p in procs:
            _, err = p.communicate()
            check(p.returncode == 0, f"shard: {err}")
        check(tree(sharded) == reference, f"3 shards differ from one process: {sorted(set(tree(sharded).items()) ^ set(reference.items()))}")

        # --shard auto from a Slurm array (1-based) and from a Kubernetes Indexed Job.
        slurm = folder("slurm")
        for task in (1, 2, 3):
            env = dict(os.environ, SLURM_ARRAY_TASK_ID=str(task), SLURM_ARRAY_TASK_MIN="1", SLURM_ARRAY_TASK_COUNT="3")
            r = run([gen, *common, "-n", "7", "--batch-size", "3", "--seed", "11", "-o", "img_%02d.png",
                     "--shard", "auto"], slurm, env)
            check(r.returncode == 0, f"Slurm task {task}: {r.stderr}")
        check(tree(slurm) == reference, "Slurm array shards differ from one process")
        k8s = folder("k8s")
        for index in range(3):
            env = dict(os.environ, JOB_COMPLETION_INDEX=str(index))
            r = run([gen, *common, "-n", "7", "--batch-size", "3", "--seed", "11", "-o", "img_%02d.png",
                     "--shard", "auto", "--shards", "3"], k8s, env)
            check(r.returncode == 0, f"Indexed Job {index}: {r.stderr}")
        check(tree(k8s) == reference, "Indexed Job shards differ from one process")

        # Resume after SIGKILL: 40 images in batches of 2, killed once some are written.
        long_args = [*common, "-n", "40", "--batch-size", "2", "--seed", "5", "-o", "img_%02d.png"]
        uninterrupted = folder("uninterrupted")
        r = run([gen, *long_args], uninterrupted)
        check(r.returncode == 0, f"uninterrupted: {r.stderr}")
        killed = folder("killed")
        p = subprocess.Popen([gen, *long_args], cwd=killed, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and p.poll() is None and len(os.listdir(killed)) < 9:
            time.sleep(0.01)
        p.send_signal(signal.SIGKILL)
        p.wait()
        written = len([n for n in os.listdir(killed) if n.endswith(".png")])
        check(0 < written < 40, f"the kill landed part-way ({written} images written)")
        r = run([gen, *long_args, "--resume"], killed)
        check(r.returncode == 0, f"--resume: {r.stderr}")
        check(tree(killed) == tree(uninterrupted),
              f"resumed run differs: {sorted(set(tree(killed).items()) ^ set(tree(uninterrupted).items()))[:4]}")
        strays = [n for n in os.listdir(killed) if n.startswith(".")]
        check(not strays, f"stray files after --resume: {strays}")
        r = run([gen, *long_args, "--resume"], killed)
        check(r.returncode == 0 and tree(killed) == tree(uninterrupted), "a second --resume changes nothing")

        check_huge_count(gen, model, folder("huge"))

        # Bad input: one line, non-zero exit, nothing written.
        bad = folder("bad")
        cases = [
            ("--shard 3/2", ["--shard", "3/2"], None),
            ("--shard 0/0", ["--shard", "0/0"], None),
            ("--shard x", ["--shard", "x"], None),
            ("--shard auto without a job scheduler", ["--shard", "auto"], None),
            ("--shards without --shard auto", ["--shard", "0/2", "--shards", "2"], None),
            ("--device cuda:99", ["--device", "cuda:99"], None),
            ("--device tpu", ["--device", "tpu"], None),
            ("--batch-size beyond memory", ["-n", "100000000", "--batch-size", "100000000"], None),
            ("--grid with --shard", ["--shard", "0/2", "--grid", "g.png"], None),
            ("--seed + batches past 2^64 - 1", ["-n", "4", "--batch-size", "1", "--seed", "18446744073709551614"], None),
        ]
        env = {k: v for k, v in os.environ.items() if k not in ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX")}
        for name, extra, _ in cases:
            r = run([gen, *common, "-o", "x.png", *extra], bad, env)
            lines = [l for l in r.stderr.splitlines() if l.strip()]
            check(r.returncode != 0 and len(lines) == 1 and not os.listdir(bad),
                  f"{name}: rc {r.returncode}, stderr {r.stderr!r}, left {os.listdir(bad)}")
            print(f"ok   {name}: exit {r.returncode}: {lines[0] if lines else ''}")
        # --resume against outputs made with other options: refused, naming the option; nothing changed.
        before = tree(uninterrupted)
        r = run([gen, *common[:2], "--steps", "5", "-q", "-n", "40", "--batch-size", "2", "--seed", "5", "-o",
                 "img_%02d.png", "--resume"], uninterrupted)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        check(r.returncode != 0 and len(lines) == 1 and "steps" in r.stderr and tree(uninterrupted) == before,
              f"--resume with other steps: rc {r.returncode}, {r.stderr!r}")
        print(f"ok   --resume with other options: exit {r.returncode}: {lines[0] if lines else ''}")
        check_invert(bin_dir, model, w, folder)
        check_examples(bin_dir, model, w, folder)
    print(f"scale checks: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
