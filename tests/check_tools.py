#!/usr/bin/env python3
"""ddim-generate and ddim-invert on the tiny exported model: outputs, names, sidecars, parity with
diffusers, the latents round trip, and a battery of bad inputs (each: non-zero exit, one line on
stderr, no output left behind).

    check_tools.py BIN_DIR TINY_FIXTURE_DIR
"""
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL", what)
    return ok


def run(cmd, cwd, env=None):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)


def main():
    bin_dir, fixture = sys.argv[1], sys.argv[2]
    gen, inv = os.path.join(bin_dir, "ddim-generate"), os.path.join(bin_dir, "ddim-invert")
    model = os.path.join(fixture, "model")
    ref = json.load(open(os.path.join(fixture, "ref", "reference.json")))
    blob = np.fromfile(os.path.join(fixture, "ref", "reference.bin"), dtype="<f4")

    def ref_tensor(entry):
        n = int(np.prod(entry["shape"]))
        return blob[entry["offset"]:entry["offset"] + n].reshape(entry["shape"])

    with tempfile.TemporaryDirectory() as w:
        # Parity: the PNG of a seed is diffusers' image for that seed, rounded as numpy_to_pil rounds.
        case = next(c for c in ref["generate"] if c["batch_size"] == 3 and c["eta"] == 0.0)
        r = run([gen, "--model", model, "-n", "3", "--seed", str(case["seed"]), "--steps", str(case["steps"]),
                 "-o", "img_%02d.png", "--grid", "grid.png", "-q"], w)
        check(r.returncode == 0, f"generate: rc {r.returncode} {r.stderr}")
        expected = np.round(ref_tensor(case["images"]) * 255).astype(np.uint8)
        for i in range(3):
            path = os.path.join(w, f"img_{i:02d}.png")
            check(os.path.exists(path), f"{path} missing")
            if os.path.exists(path):
                got = np.asarray(Image.open(path).convert("RGB"))
                diff = np.abs(got.astype(int) - expected[i].astype(int))
                check(diff.max() <= 1 and (diff == 0).mean() > 0.99, f"img_{i:02d}.png differs from diffusers by {diff.max()}")
                side = json.load(open(path + ".json"))
                check(side["seed"] == case["seed"] and side["steps"] == case["steps"] and side["index"] == i,
                      f"sidecar of img_{i:02d}.png: {side}")
                check(side["scheduler_config"]["_class_name"] == "DDIMScheduler", "sidecar scheduler config")
        grid = np.asarray(Image.open(os.path.join(w, "grid.png")).convert("RGB"))
        check(grid.shape[:2] == (34, 34), f"grid of 3 images is 2x2 tiles of 16x16 with a 2-pixel gutter: {grid.shape}")
        check((grid[16:18] == 255).all() and (grid[:, 16:18] == 255).all() and (grid[18:, 18:] == 255).all(),
              "the gutters and the empty fourth cell are white")
        check(json.load(open(os.path.join(w, "grid.png.json"))).get("grid_gap") == 2, "the grid's sidecar has its gap")
        first = np.asarray(Image.open(os.path.join(w, "img_00.png")).convert("RGB"))
        check(np.array_equal(grid[:16, :16], first), "the grid's first cell is the first image")

        # Sidecars: the resolved scheduler config with every key diffusers' class has, the UNet file's
        # SHA-256 (as hashlib computes it) and every option; --from-sidecar remakes an image byte for
        # byte, from the middle of a batch, with eta > 0 (the batch's noise draws) and a --set.
        from diffusers import DDIMInverseScheduler, DDIMScheduler
        r = run([gen, "--model", model, "-n", "5", "--batch-size", "2", "--seed", "11", "--steps", "4", "--eta", "0.5",
                 "--set", "timestep_spacing=trailing", "-o", "rep_%d.png", "-q"], w)
        check(r.returncode == 0, f"generate for --from-sidecar: {r.stderr}")
        side = json.load(open(os.path.join(w, "rep_3.png.json")))
        package = open(os.path.join(model, "unet", "model.pt2"), "rb").read()
        check(side.get("unet_sha256") == hashlib.sha256(package).hexdigest(), f"unet_sha256: {side.get('unet_sha256')}")
        config = side.get("scheduler_config", {})
        public = lambda cls: {k for k in cls().config if not k.startswith("_")}  # as save_pretrained writes
        missing = public(DDIMScheduler) - set(config)
        check(not missing and config.get("timestep_spacing") == "trailing", f"scheduler_config lacks {missing}: {config}")
        check(side.get("batch") == 1 and side.get("index") == 3 and side.get("num_images") == 5 and
              side.get("batch_size") == 2 and side.get("eta") == 0.5 and side.get("set") == {"timestep_spacing": "trailing"},
              f"options: {side}")
        r = run([gen, "--from-sidecar", "rep_3.png.json", "-o", "rep_again.png", "-q"], w)
        if check(r.returncode == 0, f"--from-sidecar: {r.stderr}"):
            check(open(os.path.join(w, "rep_again.png"), "rb").read() == open(os.path.join(w, "rep_3.png"), "rb").read(),
                  "--from-sidecar made other bytes than the image")
            again = json.load(open(os.path.join(w, "rep_again.png.json")))
            check({k: v for k, v in again.items() if k != "from_sidecar"} == side and
                  again.get("from_sidecar") == "rep_3.png.json", f"the remade image's sidecar: {again}")
            check(sorted(f for f in os.listdir(w) if f.startswith("rep_")) ==
                  sorted([f"rep_{i}.png" for i in range(5)] + [f"rep_{i}.png.json" for i in range(5)] +
                         ["rep_again.png", "rep_again.png.json"]), "--from-sidecar writes one image")
        side = json.load(open(os.path.join(w, "img_00.png.json")))
        missing = public(DDIMScheduler) - set(side.get("scheduler_config", {}))
        check(not missing, f"the parity run's sidecar lacks scheduler keys {missing}")

        # _<i> naming.
        r = run([gen, "--model", model, "-n", "2", "--steps", "3", "-o", "out.png", "-q"], w)
        check(r.returncode == 0 and all(os.path.exists(os.path.join(w, f"out_{i}.png")) for i in range(2)),
              f"_<i> naming: {os.listdir(w)}")

        # --batch-size alone makes that many images, as diffusers' pipe(batch_size=B) does.
        r = run([gen, "--model", model, "--batch-size", "3", "--steps", "2", "--seed", "4", "-o", "bs.png", "-q"], w)
        side = json.load(open(os.path.join(w, "bs_2.png.json"))) if r.returncode == 0 else {}
        check(r.returncode == 0 and sorted(f for f in os.listdir(w) if f.startswith("bs_") and f.endswith(".png")) ==
              ["bs_0.png", "bs_1.png", "bs_2.png"] and side.get("num_images") == 3 and side.get("batch_size") == 3,
              f"--batch-size 3 alone: {r.stderr} {sorted(os.listdir(w))}")

        # Invert, reconstruct, and generate from the latents: the same forward DDIM, the same image.
        r = run([inv, "--model", model, "img_00.png", "-o", "lat.pt", "--reconstruct", "back.png", "--steps", "10", "-q"], w)
        check(r.returncode == 0 and "psnr" in r.stdout, f"invert: rc {r.returncode} {r.stderr} {r.stdout}")
        lat = torch.load(os.path.join(w, "lat.pt"))
        check(tuple(lat.shape) == (1, 3, 16, 16) and lat.dtype == torch.float32, f"latents {lat.shape} {lat.dtype}")
        check(json.load(open(os.path.join(w, "back.png.json")))["psnr_db"] > 0, "reconstruction sidecar has PSNR")
        for name in ("lat.pt.json", "back.png.json"):
            side = json.load(open(os.path.join(w, name)))
            inverse, forward = side.get("scheduler_config", {}), side.get("forward_scheduler_config", {})
            check(inverse.get("_class_name") == "DDIMInverseScheduler" and not public(DDIMInverseScheduler) -
                  set(inverse) and forward.get("_class_name") == "DDIMScheduler" and
                  not public(DDIMScheduler) - set(forward), f"{name}: resolved scheduler configs {side}")
            check(side.get("unet_sha256") == hashlib.sha256(package).hexdigest(), f"{name}: {side}")
        r = run([gen, "--model", model, "--latents", "lat.pt", "--steps", "10", "-o", "fromlat.png", "-q"], w)
        check(r.returncode == 0, f"generate --latents: {r.stderr}")
        a = np.asarray(Image.open(os.path.join(w, "fromlat.png")))
        b = np.asarray(Image.open(os.path.join(w, "back.png")))
        check(np.array_equal(a, b), "generate --latents differs from invert --reconstruct")

        # Inversion methods: each one's latents decode, with no flag but --latents, to the image its
        # own --reconstruct gave; EDICT's and BDIA's files are dicts torch.load reads.
        for method in ("fixed-point", "edict", "bdia"):
            r = run([inv, "--model", model, "img_00.png", "--method", method, "--steps", "10", "-o", f"m_{method}.pt",
                     "--reconstruct", f"m_{method}_back.png", "-q"], w)
            if not check(r.returncode == 0, f"invert --method {method}: {r.stderr}"):
                continue
            side = json.load(open(os.path.join(w, f"m_{method}.pt.json")))
            check(side["method"]["name"] == method and side["unet_calls"] > 0, f"{method} sidecar: {side['method']}")
            saved = torch.load(os.path.join(w, f"m_{method}.pt"))
            if method == "fixed-point":
                check(isinstance(saved, torch.Tensor), "fixed-point latents are a plain tensor")
            else:
                companion = "edict_y" if method == "edict" else "bdia_next"
                check(isinstance(saved, dict) and sorted(saved) == sorted(
                    ["latents", companion, "edict_p" if method == "edict" else "bdia_gamma", "num_inference_steps"]),
                    f"{method} latents file: {saved.keys() if isinstance(saved, dict) else type(saved)}")
                psnr = json.load(open(os.path.join(w, f"m_{method}_back.png.json")))["psnr_db"]
                check(psnr >= 60, f"{method} round trip {psnr} dB")
            r = run([gen, "--model", model, "--latents", f"m_{method}.pt", "-o", f"m_{method}_gen.png", "-q"], w)
            if check(r.returncode == 0, f"generate --latents m_{method}.pt: {r.stderr}"):
                a = np.asarray(Image.open(os.path.join(w, f"m_{method}_gen.png")))
                b = np.asarray(Image.open(os.path.join(w, f"m_{method}_back.png")))
                check(np.array_equal(a, b), f"{method}: generate --latents differs from its --reconstruct")
                r = run([gen, "--from-sidecar", f"m_{method}_gen.png.json", "-o", f"m_{method}_again.png", "-q"], w)
                check(r.returncode == 0 and open(os.path.join(w, f"m_{method}_again.png"), "rb").read() ==
                      open(os.path.join(w, f"m_{method}_gen.png"), "rb").read(),
                      f"{method}: --from-sidecar of decoded latents: {r.stderr}")

        # DPM-Solver's config holds -Infinity (lambda_min_clipped): its sidecars stay standard JSON
        # (the value as the string "-Infinity"), and an image decoded from its latents is remade.
        strict = lambda path: json.loads(open(path).read(), parse_constant=lambda c: check(False, f"{path}: {c}"))
        r = run([inv, "--model", model, "img_00.png", "--scheduler", "dpmsolver", "--steps", "5", "-o", "dpm.pt", "-q"], w)
        if check(r.returncode == 0, f"invert --scheduler dpmsolver: {r.stderr}"):
            side = strict(os.path.join(w, "dpm.pt.json"))
            check(side["scheduler_config"].get("lambda_min_clipped") == "-Infinity", f"dpm sidecar: {side}")
            r = run([gen, "--model", model, "--latents", "dpm.pt", "-o", "dpm_gen.png", "-q"], w)
            check(r.returncode == 0, f"decode dpm.pt: {r.stderr}")
            strict(os.path.join(w, "dpm_gen.png.json"))
            r = run([gen, "--from-sidecar", "dpm_gen.png.json", "-o", "dpm_again.png", "-q"], w)
            check(r.returncode == 0 and open(os.path.join(w, "dpm_again.png"), "rb").read() ==
                  open(os.path.join(w, "dpm_gen.png"), "rb").read(), f"--from-sidecar of DPM-Solver latents: {r.stderr}")

        # Interpolation: frame 0 and the last frame are the decodes of the two latents.
        r = run([inv, "--model", model, "img_01.png", "-o", "lat1.pt", "--steps", "10", "-q"], w)
        check(r.returncode == 0, f"invert img_01: {r.stderr}")
        r = run([gen, "--model", model, "--latents", "lat1.pt", "--steps", "10", "-o", "fromlat1.png", "-q"], w)
        check(r.returncode == 0, f"decode lat1: {r.stderr}")
        r = run([gen, "--model", model, "--latents", "lat.pt", "--interpolate", "lat1.pt", "--frames", "4",
                 "--batch-size", "1", "-o", "frame_%d.png", "--grid", "strip.png", "-q"], w)
        if check(r.returncode == 0, f"--interpolate: {r.stderr}"):
            for frame, single in ((0, "fromlat.png"), (3, "fromlat1.png")):
                a = np.asarray(Image.open(os.path.join(w, f"frame_{frame}.png")))
                b = np.asarray(Image.open(os.path.join(w, single)))
                check(np.array_equal(a, b), f"frame {frame} differs from the decode of its latents")
            middle = np.asarray(Image.open(os.path.join(w, "frame_1.png")))
            check(not np.array_equal(middle, np.asarray(Image.open(os.path.join(w, "fromlat.png")))),
                  "frame 1 is an interpolation, not an endpoint")
            strip = np.asarray(Image.open(os.path.join(w, "strip.png")).convert("RGB"))
            check(strip.shape[:2] == (16, 4 * 16 + 3 * 2), f"--grid of 4 frames is one strip: {strip.shape}")
            side = json.load(open(os.path.join(w, "frame_2.png.json")))
            check(abs(side["frame_weight"] - 2 / 3) < 1e-12 and side["frames"] == 4, f"frame sidecar: {side}")
        r = run([gen, "--model", model, "--latents", "m_edict.pt", "--interpolate", "m_edict.pt", "--frames", "3",
                 "-o", "ef_%d.png", "-q"], w)
        check(r.returncode == 0 and os.path.isfile(os.path.join(w, "ef_2.png")), f"EDICT frames: {r.stderr}")
        # A sidecar naming another method than the file's entries.
        shutil.copy(os.path.join(w, "m_edict.pt"), os.path.join(w, "liar.pt"))
        liar = json.load(open(os.path.join(w, "m_edict.pt.json")))
        liar["method"] = {"name": "ddim"}
        json.dump(liar, open(os.path.join(w, "liar.pt.json"), "w"))
        # A sidecar naming another UNet file than the one there now.
        other = json.load(open(os.path.join(w, "rep_3.png.json")))
        other["unet_sha256"] = "0" * 64
        json.dump(other, open(os.path.join(w, "other_model.png.json"), "w"))

        # The bad-input battery.
        broken = os.path.join(w, "broken_model")
        shutil.copytree(model, broken)
        open(os.path.join(broken, "unet", "model.pt"), "w").write("not TorchScript")
        open(os.path.join(broken, "unet", "model.pt2"), "w").write("not a package")
        # A damaged package beside a good TorchScript file: a warning, then the TorchScript file runs.
        fallback = os.path.join(w, "fallback_model")
        shutil.copytree(model, fallback)
        open(os.path.join(fallback, "unet", "model.pt2"), "w").write("not a package")
        open(os.path.join(w, "corrupt.png"), "w").write("not an image")
        Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(os.path.join(w, "big.png"))
        torch.save(torch.zeros(1, 3, 8, 8), os.path.join(w, "badlat.pt"))
        nan_latents = torch.zeros(1, 3, 16, 16)
        nan_latents[0, 0, 0, 0] = float("nan")
        nan_latents[0, 1, 2, 3] = float("inf")
        torch.save(nan_latents, os.path.join(w, "nanlat.pt"))
        # Hostile images kept from fuzzing (tests/data/images): a PNG header claiming 65535 x 65535
        # pixels (4.3 GP) with almost no data, and the 23-byte JPEG that overran stb_image's Huffman table.
        data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "images")
        for name in ("claims_65535x65535.png", "stb1291_huffman_table.jpg"):
            shutil.copy(os.path.join(data, name), os.path.join(w, name))
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(os.path.join(w, "small.bmp"))
        Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(os.path.join(w, "gray.jpg"), quality=95)
        os.mkfifo(os.path.join(w, "fifo.png"))
        os.mkdir(os.path.join(w, "folder.png"))
        # Latents that are not real numbers.
        torch.save(torch.zeros(1, 3, 16, 16, dtype=torch.int64), os.path.join(w, "intlat.pt"))
        torch.save(torch.zeros(1, 3, 16, 16, dtype=torch.bool), os.path.join(w, "boollat.pt"))
        torch.save(torch.zeros(1, 3, 16, 16, dtype=torch.complex64), os.path.join(w, "complexlat.pt"))
        # Other names of inputs: a hard link to the image, a symlink to the latents.
        os.link(os.path.join(w, "img_00.png"), os.path.join(w, "hard.png"))
        os.symlink("lat.pt", os.path.join(w, "sym.pt"))
        inputs = {name: open(os.path.join(w, name), "rb").read() for name in ("img_00.png", "lat.pt", "rep_3.png.json")}
        cases = [
            ("missing model folder", [gen, "--model", os.path.join(w, "nope"), "-o", "x1.png"], "x1.png"),
            ("corrupt model.pt and model.pt2", [gen, "--model", broken, "-o", "x2.png"], "x2.png"),
            ("missing image", [inv, "--model", model, "nope.png", "-o", "x3.pt"], "x3.pt"),
            ("corrupt image", [inv, "--model", model, "corrupt.png", "-o", "x4.pt"], "x4.pt"),
            ("wrong-size image", [inv, "--model", model, "big.png", "-o", "x5.pt"], "x5.pt"),
            ("--steps 0", [gen, "--model", model, "--steps", "0", "-o", "x6.png"], "x6.png"),
            ("--steps above training", [gen, "--model", model, "--steps", "1001", "-o", "x7.png"], "x7.png"),
            ("--eta -1", [gen, "--model", model, "--eta", "-1", "-o", "x8.png"], "x8.png"),
            ("unknown --set key", [gen, "--model", model, "--set", "no_such_key=1", "-o", "x9.png"], "x9.png"),
            ("unwritable output folder", [gen, "--model", model, "-o", os.path.join(w, "nodir", "x.png")], None),
            ("latents of the wrong shape", [gen, "--model", model, "--latents", "badlat.pt", "-o", "x10.png"], "x10.png"),
            ("printf pattern with %s and %n", [gen, "--model", model, "-o", "%s%s%n.png"], None),
            ("two conversions", [gen, "--model", model, "-n", "2", "-o", "a%d_%d.png"], None),
            ("output is a FIFO", [gen, "--model", model, "--steps", "2", "-o", "fifo.png"], None),
            ("grid is a folder", [gen, "--model", model, "--steps", "2", "-o", "x11.png", "--grid", "folder.png"],
             "x11.png"),
            ("latents output is a FIFO", [inv, "--model", model, "--steps", "2", "--resize", "big.png", "-o", "fifo.png"], None),
            ("--batch-size beyond memory", [gen, "--model", model, "--steps", "1", "-n", "100000000", "--batch-size",
                                            "100000000", "-o", "x12.png"],
             "x12_0.png"),
            ("seed past 2^64 - 1", [gen, "--model", model, "--seed", "99999999999999999999999", "-o", "x13.png"],
             "x13.png"),
            ("negative seed", [gen, "--model", model, "--seed", "-1", "-o", "x14.png"], "x14.png"),
            # --encode-seed refuses what --seed refuses (it wrapped -1 to 2^64 - 1 and clamped 2^64).
            ("negative --encode-seed", [inv, "--model", model, "img_00.png", "--encode-seed", "-1", "-o", "x14a.pt"],
             "x14a.pt"),
            ("--encode-seed 2^64", [inv, "--model", model, "img_00.png", "--encode-seed", "18446744073709551616",
                                    "-o", "x14b.pt"], "x14b.pt"),
            ("image header claiming 4.3 gigapixels", [inv, "--model", model, "claims_65535x65535.png", "-o", "x16.pt"],
             "x16.pt"),
            ("JPEG with a bogus Huffman table", [inv, "--model", model, "stb1291_huffman_table.jpg", "-o", "x17.pt"],
             "x17.pt"),
            ("BMP (only PNG and JPEG are read)", [inv, "--model", model, "small.bmp", "-o", "x18.pt"], "x18.pt"),
            ("non-finite latents", [gen, "--model", model, "--latents", "nanlat.pt", "-o", "x15.png"], "x15.png"),
            ("--edict-p 1", [inv, "--model", model, "img_00.png", "--method", "edict", "--edict-p", "1", "-o", "x19.pt"],
             "x19.pt"),
            ("--bdia-gamma 0", [inv, "--model", model, "img_00.png", "--method", "bdia", "--bdia-gamma", "0",
                                "-o", "x20.pt"], "x20.pt"),
            ("--iterations 0", [inv, "--model", model, "img_00.png", "--method", "fixed-point", "--iterations", "0",
                                "-o", "x21.pt"], "x21.pt"),
            ("negative --tolerance", [inv, "--model", model, "img_00.png", "--method", "fixed-point", "--tolerance",
                                      "-1", "-o", "x22.pt"], "x22.pt"),
            ("--edict-p with --method bdia", [inv, "--model", model, "img_00.png", "--method", "bdia", "--edict-p",
                                              "0.9", "-o", "x23.pt"], "x23.pt"),
            ("--method edict --scheduler dpmsolver", [inv, "--model", model, "img_00.png", "--method", "edict",
                                                      "--scheduler", "dpmsolver", "-o", "x24.pt"], "x24.pt"),
            ("EDICT latents with --eta", [gen, "--model", model, "--latents", "m_edict.pt", "--eta", "0.5",
                                          "-o", "x25.png"], "x25.png"),
            ("EDICT latents with another --steps", [gen, "--model", model, "--latents", "m_edict.pt", "--steps", "20",
                                                    "-o", "x26.png"], "x26.png"),
            ("sidecar naming another method", [gen, "--model", model, "--latents", "liar.pt", "-o", "x27.png"],
             "x27.png"),
            ("--interpolate between two methods", [gen, "--model", model, "--latents", "lat.pt", "--interpolate",
                                                   "m_edict.pt", "-o", "x28_%d.png"], "x28_0.png"),
            ("--interpolate without --latents", [gen, "--model", model, "--interpolate", "lat.pt", "-o", "x29.png"],
             "x29.png"),
            ("--frames 1", [gen, "--model", model, "--latents", "lat.pt", "--interpolate", "lat1.pt", "--frames", "1",
                            "-o", "x30.png"], "x30.png"),
            ("--from-sidecar with --steps", [gen, "--from-sidecar", "rep_3.png.json", "--steps", "3", "-o", "x31.png"],
             "x31.png"),
            ("--from-sidecar of a grid", [gen, "--from-sidecar", "grid.png.json", "-o", "x32.png"], "x32.png"),
            ("--from-sidecar of ddim-invert's", [gen, "--from-sidecar", "back.png.json", "-o", "x33.png"], "x33.png"),
            ("--from-sidecar naming another UNet file", [gen, "--from-sidecar", "other_model.png.json", "-o", "x34.png"],
             "x34.png"),
            ("--from-sidecar of a non-JSON file", [gen, "--from-sidecar", "corrupt.png", "-o", "x35.png"], "x35.png"),
            ("--from-sidecar of a missing file", [gen, "--from-sidecar", "nope.json", "-o", "x36.png"], "x36.png"),
            ("int64 latents", [gen, "--model", model, "--latents", "intlat.pt", "-o", "x37.png"], "x37.png"),
            ("bool latents", [gen, "--model", model, "--latents", "boollat.pt", "-o", "x38.png"], "x38.png"),
            ("complex latents", [gen, "--model", model, "--latents", "complexlat.pt", "-o", "x39.png"], "x39.png"),
            ("invert -o the input image", [inv, "--model", model, "img_00.png", "-o", "img_00.png"], None),
            ("invert --reconstruct the input image", [inv, "--model", model, "img_00.png", "-o", "x40.pt",
                                                      "--reconstruct", "img_00.png"], "x40.pt"),
            ("invert -o a hard link to the input", [inv, "--model", model, "img_00.png", "-o", "hard.png"], None),
            ("generate -o the --latents file", [gen, "--model", model, "--latents", "lat.pt", "-o", "lat.pt"], None),
            ("generate -o a symlink to the --latents", [gen, "--model", model, "--latents", "lat.pt", "-o", "sym.pt"],
             None),
            ("generate -o and --grid one file", [gen, "--model", model, "--steps", "2", "-o", "x41.png", "--grid",
                                                 "x41.png"], "x41.png"),
            ("--from-sidecar -o onto its own sidecar's image", [gen, "--from-sidecar", "rep_3.png.json", "-o",
                                                                "rep_3.png"], None),
        ]
        for name, cmd, out in cases:
            before = set(os.listdir(w))
            r = run(cmd + ["-q"], w)
            lines = [l for l in r.stderr.splitlines() if l.strip()]
            check(r.returncode != 0, f"{name}: exit code 0")
            check(len(lines) == 1, f"{name}: stderr has {len(lines)} lines: {r.stderr!r}")
            check(set(os.listdir(w)) == before, f"{name}: left {set(os.listdir(w)) - before}")
            check(stat.S_ISFIFO(os.stat(os.path.join(w, "fifo.png")).st_mode), f"{name}: fifo.png replaced")
            check(os.path.isdir(os.path.join(w, "folder.png")), f"{name}: folder.png replaced")
            for kept, data in inputs.items():
                check(open(os.path.join(w, kept), "rb").read() == data, f"{name}: {kept} changed")
            print(f"ok   {name}: exit {r.returncode}: {lines[0] if lines else ''}")
        for bad in ("-1", "-5", "18446744073709551616", "1e3"):
            r = run([inv, "--model", model, "img_00.png", "--encode-seed", bad, "-o", "x14c.pt", "-q"], w)
            check(r.returncode == 2 and f"--encode-seed {bad} is not an integer in [0, 18446744073709551615]" in r.stderr,
                  f"--encode-seed {bad}: rc {r.returncode} {r.stderr!r}")
        r = run([gen, "--model", fallback, "--steps", "2", "-o", "fallback.png", "-q"], w)
        check(r.returncode == 0 and os.path.isfile(os.path.join(w, "fallback.png")), f"fallback run: {r.stderr!r}")
        check("model.pt2" in r.stderr and "(TorchScript) instead" in r.stderr and len(r.stderr.splitlines()) == 1,
              f"fallback warning: {r.stderr!r}")
        if os.path.isfile(os.path.join(w, "fallback.png.json")):
            record = json.load(open(os.path.join(w, "fallback.png.json")))
            check(record.get("unet_format") == "torchscript" and record.get("unet_file") == "unet/model.pt",
                  f"fallback sidecar names the TorchScript file: {record}")
            # Remade with the file that made it (the trace), with no fallback warning this time.
            r = run([gen, "--from-sidecar", "fallback.png.json", "-o", "fallback_again.png", "-q"], w)
            check(r.returncode == 0 and not r.stderr and open(os.path.join(w, "fallback_again.png"), "rb").read() ==
                  open(os.path.join(w, "fallback.png"), "rb").read(), f"--from-sidecar of a TorchScript run: {r.stderr!r}")
        r = run([gen, "--model", model, "--steps", "2", "-o", "package.png", "-q"], w)
        record = json.load(open(os.path.join(w, "package.png.json"))) if r.returncode == 0 else {}
        check(record.get("unet_format") == "aoti" and record.get("unet_file") == "unet/model.pt2",
              f"sidecar names the package: {record}")
        # A folder of two dtypes: --dtype bfloat16 runs model.bfloat16.pt2 and says so; --from-sidecar
        # remakes it byte for byte; --dtype auto records the dtype it resolved to.
        r = run([gen, "--model", model, "--dtype", "bfloat16", "--steps", "2", "-o", "bf16.png", "-q"], w)
        record = json.load(open(os.path.join(w, "bf16.png.json"))) if r.returncode == 0 else {}
        check(record.get("dtype") == "bfloat16" and record.get("unet_file") == "unet/model.bfloat16.pt2",
              f"--dtype bfloat16 sidecar names the bfloat16 package: {r.stderr!r} {record}")
        if record:
            r = run([gen, "--from-sidecar", "bf16.png.json", "-o", "bf16_again.png", "-q"], w)
            check(r.returncode == 0 and open(os.path.join(w, "bf16_again.png"), "rb").read() ==
                  open(os.path.join(w, "bf16.png"), "rb").read(), f"--from-sidecar of a bfloat16 run: {r.stderr!r}")
        choice = json.load(open(os.path.join(model, "unet", "dtype_auto.json")))["choice"]
        r = run([gen, "--model", model, "--dtype", "auto", "--steps", "2", "-o", "auto.png", "-q"], w)
        record = json.load(open(os.path.join(w, "auto.png.json"))) if r.returncode == 0 else {}
        check(record.get("dtype") == choice, f"--dtype auto runs {choice}, as dtype_auto.json says: {r.stderr!r} {record}")
        # Latents as safetensors: Python's safetensors reads ours, ddim reads Python's.
        r = run([inv, "--model", model, "gray.jpg", "--steps", "2", "-o", "lat.safetensors", "-q"], w)
        if check(r.returncode == 0, f"safetensors output: {r.stderr!r}"):
            from safetensors.torch import load_file, save_file
            ours = load_file(os.path.join(w, "lat.safetensors"))
            check(list(ours) == ["latents"] and ours["latents"].shape == (1, 3, 16, 16), f"safetensors read: {ours}")
            save_file({"x": ours["latents"].double()}, os.path.join(w, "py.safetensors"))
            r = run([gen, "--model", model, "--latents", "py.safetensors", "--steps", "2", "-o", "st.png", "-q"], w)
            check(r.returncode == 0, f"--latents from Python's safetensors: {r.stderr!r}")
        r = run([inv, "--model", model, "gray.jpg", "--steps", "2", "-o", "jpeg.pt", "-q"], w)
        check(r.returncode == 0 and os.path.isfile(os.path.join(w, "jpeg.pt")), f"JPEG input: {r.stderr!r}")
        r = run([inv, "--model", model, "big.png", "--resize", "-o", "resized.pt", "-q"], w)
        check(r.returncode == 0, f"--resize: {r.stderr}")
        r = run([gen, "--help"], w)
        check(r.returncode == 0 and r.stdout.count("ddim-generate") >= 3, "--help shows two examples")
    print(f"tool checks: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
