#!/usr/bin/env python3
"""ddim-generate and ddim-invert with text prompts on the tiny text-conditioned model: the prompts in
the sidecars and replayed byte for byte, --negative-prompt and --clip-skip changing the images, the
image StableDiffusionPipeline(prompt) gives, --height/--width at the model's size, inversion under a
prompt, and the refusals (one line, non-zero exit, nothing written).

    check_prompt_tools.py BIN_DIR TEXT_FIXTURE_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image
from safetensors.torch import load_file

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
    return ok


def run(cmd, cwd):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def pixels(path):
    return np.asarray(Image.open(path)).astype(int)


def main():
    bin_dir, fixture = os.path.abspath(sys.argv[1]), sys.argv[2]
    gen, inv = os.path.join(bin_dir, "ddim-generate"), os.path.join(bin_dir, "ddim-invert")
    model = os.path.abspath(os.path.join(fixture, "model"))
    doc = json.load(open(os.path.join(fixture, "ref", "reference.json")))
    tensors = load_file(os.path.join(fixture, "ref", "reference.safetensors"))
    base = ["--model", model, "--steps", "4", "-q"]
    with tempfile.TemporaryDirectory() as w:
        # StableDiffusionPipeline(prompt, guidance_scale=7.5) through the tool: within 2 levels. The
        # pipeline's constructor rewrites the tiny folder's outdated DDPMScheduler config (steps_offset
        # 1, clip_sample false), and so does ddim for a StableDiffusionPipeline folder, with a warning.
        case = doc["image_cases"][0]
        r = run([gen, *base, "--prompt", case["prompt"], "--seed", str(case["seed"]), "-o", "sd.png"], w)
        if check(r.returncode == 0, f"generate --prompt: rc {r.returncode} {r.stderr}"):
            check("steps_offset 0 read as 1" in r.stderr and "clip_sample true read as false" in r.stderr,
                  f"no warning of the rewritten scheduler config: {r.stderr!r}")
            want = (tensors["image_0"].numpy()[0] * 255).round().clip(0, 255).astype(int)
            got = pixels(os.path.join(w, "sd.png"))
            check(got.shape == want.shape and np.abs(got - want).max() <= 2,
                  f"--prompt image against StableDiffusionPipeline(prompt): shape {got.shape}, largest difference "
                  f"{np.abs(got - want).max() if got.shape == want.shape else 'n/a'}")
            record = json.load(open(os.path.join(w, "sd.png.json")))["condition"]
            check(record["prompt"] == case["prompt"] and record["negative_prompt"] is None and
                  record["clip_skip"] is None and record["guidance_scale"] == 7.5, f"sidecar condition {record}")
            r = run([gen, "--from-sidecar", "sd.png.json", "-o", "replay.png", "-q"], w)
            check(r.returncode == 0 and open(os.path.join(w, "replay.png"), "rb").read() ==
                  open(os.path.join(w, "sd.png"), "rb").read(), f"--from-sidecar of a prompt: rc {r.returncode} "
                  f"{r.stderr}, or other bytes")
        # Each of --negative-prompt and --clip-skip changes the image, and is recorded and replayed.
        for name, extra, key, value in (("neg.png", ["--negative-prompt", "blurry"], "negative_prompt", "blurry"),
                                        ("skip.png", ["--clip-skip", "1"], "clip_skip", 1),
                                        ("empty.png", ["--prompt", ""], "prompt", "")):
            args = [gen, *base, "--seed", str(case["seed"]), "-o", name]
            args += extra if extra[0] == "--prompt" else ["--prompt", case["prompt"], *extra]
            r = run(args, w)
            if not check(r.returncode == 0, f"{extra}: rc {r.returncode} {r.stderr}"):
                continue
            check(json.load(open(os.path.join(w, name + ".json")))["condition"][key] == value,
                  f"{extra}: the sidecar does not record {key} {value!r}")
            if os.path.exists(os.path.join(w, "sd.png")):
                check(np.abs(pixels(os.path.join(w, name)) - pixels(os.path.join(w, "sd.png"))).max() > 0,
                      f"{extra} gave the same image as without it")
            r = run([gen, "--from-sidecar", name + ".json", "-o", "re_" + name, "-q"], w)
            check(r.returncode == 0 and open(os.path.join(w, "re_" + name), "rb").read() ==
                  open(os.path.join(w, name), "rb").read(), f"{extra}: replay rc {r.returncode} {r.stderr}")
        # --height / --width: the model's own size is taken (and gives the same image).
        r = run([gen, *base, "--prompt", case["prompt"], "--seed", str(case["seed"]), "--height", "16", "--width", "16",
                 "-o", "sized.png"], w)
        check(r.returncode == 0 and os.path.exists(os.path.join(w, "sd.png")) and
              open(os.path.join(w, "sized.png"), "rb").read() == open(os.path.join(w, "sd.png"), "rb").read(),
              f"--height 16 --width 16: rc {r.returncode} {r.stderr}, or another image")
        # Inversion under the source prompt, recorded in its sidecar.
        if os.path.exists(os.path.join(w, "sd.png")):
            r = run([inv, "sd.png", *base, "--prompt", case["prompt"], "-o", "inv.pt", "--reconstruct", "back.png"], w)
            if check(r.returncode == 0, f"invert --prompt: rc {r.returncode} {r.stderr}"):
                record = json.load(open(os.path.join(w, "inv.pt.json")))["condition"]
                check(record["prompt"] == case["prompt"] and record["guidance_scale"] == 1.0,
                      f"invert sidecar condition {record}")
                check(os.path.exists(os.path.join(w, "back.png")), "no reconstruction")
        # --encode-seed: a seeded draw from the AutoencoderKL's posterior, recorded; the same seed gives
        # the same latents, the mode (default) others.
        if os.path.exists(os.path.join(w, "sd.png")):
            outs = {}
            for name, extra in (("s1.pt", ["--encode-seed", "5"]), ("s2.pt", ["--encode-seed", "5"]),
                                ("s3.pt", ["--encode-seed", "6"]), ("mode.pt", [])):
                r = run([inv, "sd.png", *base, "--prompt", case["prompt"], "-o", name, *extra], w)
                if check(r.returncode == 0, f"invert {extra}: rc {r.returncode} {r.stderr}"):
                    outs[name] = open(os.path.join(w, name), "rb").read()
                    seed = json.load(open(os.path.join(w, name + ".json")))["encode_seed"]
                    check(seed == (int(extra[1]) if extra else None), f"invert {extra}: sidecar encode_seed {seed}")
            if len(outs) == 4:
                check(outs["s1.pt"] == outs["s2.pt"], "--encode-seed 5 twice gave other latents")
                check(outs["s1.pt"] != outs["s3.pt"] and outs["s1.pt"] != outs["mode.pt"],
                      "--encode-seed 5 gave the latents of another seed or of the mode")
        # Refusals: one line naming the flag, a non-zero exit, nothing written.
        bad = [(["--prompt", "x", "--embeds", "e.pt"], "--prompt and --embeds"),
               (["--negative-prompt", "y"], "--negative-prompt needs --prompt"),
               (["--prompt", "x", "--clip-skip", "5"], "--clip-skip 5: the text encoder has 2 layers"),
               (["--clip-skip", "1"], "--clip-skip 1 needs --prompt"),
               (["--prompt", "a\udcffb"], "not valid UTF-8"),
               ([], "or --prompt (with a text encoder in the folder)"),
               (["--prompt", "x", "--height", "32"], "--height 32: the model takes 16x16"),
               (["--prompt", "x", "--width", "15"], "--width 15: not a multiple of the VAE's factor 2")]
        for extra, words in bad:
            out = "bad.png"
            # os.fsencode: "\udcff" is the byte 0xFF (invalid UTF-8) on the command line.
            r = subprocess.run([os.fsencode(a) for a in [gen, *base, "-n", "1", "-o", out, *extra]], cwd=w,
                               capture_output=True)
            # The folder's outdated scheduler config is warned about first (see above).
            err = [line for line in r.stderr.decode(errors="replace").strip().splitlines()
                   if not line.startswith("ddim: warning:")]
            check(r.returncode != 0 and len(err) == 1 and words in err[0],
                  f"{extra}: rc {r.returncode}, stderr {err}")
            check(not os.path.exists(os.path.join(w, out)), f"{extra}: {out} was written")
        # --from-sidecar refuses a VAE file whose SHA-256 is not the recorded one.
        other_vae = os.path.join(w, "other_vae")
        subprocess.run(["cp", "-r", model, other_vae], check=True)
        r = run([gen, "--model", other_vae, *base[2:], "--prompt", "a cat", "-o", "ov.png"], w)
        if check(r.returncode == 0, f"generate on a copy: rc {r.returncode} {r.stderr}"):
            vae_file = json.load(open(os.path.join(w, "ov.png.json")))["vae_file"]
            with open(os.path.join(other_vae, vae_file), "ab") as f:
                f.write(b"another file")
            r = run([gen, "--from-sidecar", "ov.png.json", "-o", "ov2.png", "-q"], w)
            check(r.returncode != 0 and "(another VAE file)" in r.stderr and
                  not os.path.exists(os.path.join(w, "ov2.png")),
                  f"--from-sidecar with a changed VAE: rc {r.returncode} {r.stderr}")
        no_text = os.path.join(w, "no_text")
        subprocess.run(["cp", "-r", model, no_text], check=True)
        subprocess.run(["rm", "-r", os.path.join(no_text, "text_encoder")], check=True)
        r = run([gen, "--model", no_text, "--steps", "2", "-q", "-o", "x.png", "--prompt", "a cat"], w)
        check(r.returncode != 0 and "text_encoder/model.pt2 does not exist" in r.stderr,
              f"--prompt without a text encoder: rc {r.returncode} {r.stderr}")
    for f in failures:
        print("FAIL", f)
    print("all prompt tool checks passed" if not failures else f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
