#!/usr/bin/env python3
"""ddim-generate and ddim-invert on the tiny conditional models: class labels, prompt embeddings
from files, guidance; sidecars that record the condition and replay byte for byte; and the bad
inputs of conditioning (each: non-zero exit, one line on stderr, nothing written).

    check_conditional_tools.py BIN_DIR CONDITIONAL_FIXTURE_DIR TINY_FIXTURE_DIR [EMBEDDED_MODEL]

With EMBEDDED_MODEL (models/digits-cond), also: the embedded class-conditional model at its recorded
guidance draws the digit asked for, as a classifier trained on the digits' training split calls it.
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_tools import check, failures, run  # noqa: E402  (one failure list and runner for both batteries)


def check_embedded(gen, model, w):
    """Ten digits of each class from the embedded conditional model, scored by a classifier."""
    import numpy as np
    from sklearn.svm import SVC

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
    from eval_digits import read_samples, to_features  # noqa: E402
    from train_digits import digits_dataset  # noqa: E402

    recorded = json.load(open(os.path.join(model, "ddim_export.json")))["conditioning"]
    labels = ",".join(str(c) for c in range(10) for _ in range(10))
    out = os.path.join(w, "embedded")
    os.mkdir(out)
    r = run([gen, "--model", model, "--class-label", labels, "-n", "100", "--batch-size", "100", "--seed", "0",
             "--steps", "20", "-o", "d_%04d.png", "-q", "--device", "cpu"], out)
    check(r.returncode == 0, f"embedded conditional model: {r.stderr}")
    if r.returncode != 0:
        return
    side = json.load(open(os.path.join(out, "d_0000.png.json")))
    check(side["condition"].get("guidance_scale") == recorded.get("guidance_scale"),
          f"the embedded model's guidance as its export records it: {side['condition']} against {recorded}")
    (train_x, train_y), _ = digits_dataset()
    clf = SVC(random_state=0).fit(to_features(train_x), train_y.numpy())
    called = clf.predict(to_features(read_samples(out, "d", 100)))
    accuracy = float((called == np.repeat(np.arange(10), 10)).mean())
    check(accuracy >= 0.8, f"the embedded conditional model draws the class asked for in {accuracy:.2f} of 100 digits")
    print(f"embedded conditional model: {accuracy:.2f} of 100 digits (20 steps) called the class asked for")


def main():
    bin_dir, fixture, tiny = sys.argv[1:4]
    embedded = sys.argv[4] if len(sys.argv) > 4 else None
    gen, inv = os.path.join(bin_dir, "ddim-generate"), os.path.join(bin_dir, "ddim-invert")
    class_model = os.path.join(fixture, "class", "model")
    cross_model = os.path.join(fixture, "cross", "model")
    plain_model = os.path.join(tiny, "model")
    with tempfile.TemporaryDirectory() as w:
        gen_t = torch.Generator().manual_seed(3)
        save_file({"embeds": torch.randn(1, 8, 16, generator=gen_t)}, os.path.join(w, "pos.safetensors"))
        save_file({"x": torch.randn(1, 8, 16, generator=gen_t)}, os.path.join(w, "neg.safetensors"))
        save_file({"x": torch.randn(3, 8, 16, generator=gen_t)}, os.path.join(w, "three.safetensors"))
        save_file({"x": torch.randn(1, 7, 16, generator=gen_t)}, os.path.join(w, "short.safetensors"))
        save_file({"x": torch.ones(1, 8, 16, dtype=torch.int32)}, os.path.join(w, "ints.safetensors"))
        save_file({"x": torch.full((1, 8, 16), float("nan"))}, os.path.join(w, "nan.safetensors"))

        # Class labels: one per image, guidance from the export's record (2), the condition in the
        # sidecar as resolved; --from-sidecar makes an image of the middle of a batch again.
        r = run([gen, "--model", class_model, "--class-label", "0,1,2,3", "-n", "4", "--batch-size", "3", "--seed",
                 "5", "--steps", "4", "--eta", "1", "-o", "c_%d.png", "-q"], w)
        check(r.returncode == 0, f"class-conditional generate: {r.stderr}")
        side = json.load(open(os.path.join(w, "c_1.png.json")))
        check(side.get("condition", {}).get("class_label") == "0,1,2,3" and
              side["condition"].get("guidance_scale") == 2.0, f"class sidecar condition: {side.get('condition')}")
        r = run([gen, "--from-sidecar", "c_1.png.json", "-o", "again.png", "-q"], w)
        check(r.returncode == 0, f"class --from-sidecar: {r.stderr}")
        check(open(os.path.join(w, "again.png"), "rb").read() == open(os.path.join(w, "c_1.png"), "rb").read(),
              "class --from-sidecar remakes the image byte for byte")
        r = run([gen, "--from-sidecar", "c_1.png.json", "--class-label", "3", "-o", "x.png", "-q"], w)
        check(r.returncode == 2 and "--class-label with --from-sidecar" in r.stderr, f"replay flags: {r.stderr}")
        # Guidance changes the image; scale 1 is the conditional model alone.
        r1 = run([gen, "--model", class_model, "--class-label", "1", "--guidance-scale", "1", "--seed", "5", "--steps",
                  "4", "-o", "g1.png", "-q"], w)
        r4 = run([gen, "--model", class_model, "--class-label", "1", "--guidance-scale", "4", "--seed", "5", "--steps",
                  "4", "-o", "g4.png", "-q"], w)
        check(r1.returncode == 0 and r4.returncode == 0, f"guidance scales: {r1.stderr} {r4.stderr}")
        check(open(os.path.join(w, "g1.png"), "rb").read() != open(os.path.join(w, "g4.png"), "rb").read(),
              "guidance 4 gives another image than guidance 1")

        # Embeddings: --embeds and --negative-embeds, the files' SHA-256 in the sidecar; replay checks them.
        r = run([gen, "--model", cross_model, "--embeds", "pos.safetensors", "--negative-embeds", "neg.safetensors",
                 "--guidance-rescale", "0.7", "-n", "2", "--seed", "9", "--steps", "4", "-o", "e_%d.png", "-q"], w)
        check(r.returncode == 0, f"cross-attention generate: {r.stderr}")
        side = json.load(open(os.path.join(w, "e_1.png.json")))
        pos_sha = hashlib.sha256(open(os.path.join(w, "pos.safetensors"), "rb").read()).hexdigest()
        check(side.get("condition", {}).get("embeds_sha256") == pos_sha and
              side["condition"].get("guidance_scale") == 7.5 and side["condition"].get("guidance_rescale") == 0.7,
              f"cross sidecar condition: {side.get('condition')}")
        r = run([gen, "--from-sidecar", "e_1.png.json", "-o", "e_again.png", "-q"], w)
        check(r.returncode == 0 and open(os.path.join(w, "e_again.png"), "rb").read() ==
              open(os.path.join(w, "e_1.png"), "rb").read(), f"cross --from-sidecar byte for byte: {r.stderr}")
        shutil.copy(os.path.join(w, "neg.safetensors"), os.path.join(w, "pos.safetensors"))
        r = run([gen, "--from-sidecar", "e_1.png.json", "-o", "e_other.png", "-q"], w)
        check(r.returncode == 2 and "another embeddings file" in r.stderr and
              not os.path.exists(os.path.join(w, "e_other.png")), f"replay with changed embeddings: {r.stderr}")
        r = run([gen, "--model", cross_model, "--embeds", "three.safetensors", "--negative-embeds", "neg.safetensors",
                 "-n", "3", "--steps", "2", "-o", "t_%d.png", "-q"], w)
        check(r.returncode == 0, f"one embedding per image: {r.stderr}")

        # Inversion under a condition (guidance 1 by default), the round trip printed.
        r = run([inv, "--model", class_model, "--class-label", "2", "--steps", "10", "c_0.png", "-o", "c0.pt",
                 "--reconstruct", "c0_back.png"], w)
        check(r.returncode == 0 and os.path.exists(os.path.join(w, "c0.pt")), f"conditional invert: {r.stderr}")
        side = json.load(open(os.path.join(w, "c0.pt.json")))
        check(side.get("condition", {}).get("guidance_scale") == 1.0, f"invert sidecar condition: {side.get('condition')}")

        # Bad input: one line, exit 2, nothing written.
        no_null = os.path.join(w, "no_null")
        shutil.copytree(class_model, no_null)
        meta = json.load(open(os.path.join(no_null, "ddim_export.json")))
        meta["conditioning"]["class_labels"]["null_class"] = None
        del meta["conditioning"]["guidance_scale"]
        json.dump(meta, open(os.path.join(no_null, "ddim_export.json"), "w"))
        bad = [
            ([gen, "--model", class_model, "--class-label", "5"], "--class-label 5: outside [0, 5)"),
            ([gen, "--model", class_model, "--class-label", "-1"], "--class-label -1: outside [0, 5)"),
            ([gen, "--model", class_model, "--class-label", "one"], "'one' is not a class label"),
            ([gen, "--model", class_model, "--class-label", "1,2", "-n", "3"], "gives 2 labels for 3 images"),
            ([gen, "--model", class_model], "give --class-label"),
            ([gen, "--model", no_null, "--class-label", "null"], "records no null class"),
            ([gen, "--model", no_null, "--class-label", "1", "--guidance-scale", "3"], "needs the null class"),
            ([gen, "--model", plain_model, "--class-label", "1"], "takes no class labels"),
            ([gen, "--model", plain_model, "--guidance-scale", "3"], "the model is unconditional"),
            ([gen, "--model", class_model, "--class-label", "1", "--embeds", "neg.safetensors"], "no cross-attention"),
            ([gen, "--model", cross_model], "give --embeds"),
            ([gen, "--model", cross_model, "--embeds", "neg.safetensors"], "needs --negative-embeds"),
            ([gen, "--model", cross_model, "--embeds", "short.safetensors", "--negative-embeds", "neg.safetensors"],
             "embeddings of shape [1, 7, 16]"),
            ([gen, "--model", cross_model, "--embeds", "three.safetensors", "--negative-embeds", "neg.safetensors",
              "-n", "2"], "embeddings of shape [3, 8, 16]"),
            ([gen, "--model", cross_model, "--embeds", "ints.safetensors", "--negative-embeds", "neg.safetensors"],
             "has dtype I32"),
            ([gen, "--model", cross_model, "--embeds", "nan.safetensors", "--negative-embeds", "neg.safetensors"],
             "non-finite"),
            ([gen, "--model", cross_model, "--embeds", "missing.safetensors", "--negative-embeds", "neg.safetensors"],
             "--embeds missing.safetensors"),
            ([gen, "--model", class_model, "--class-label", "1", "--guidance-rescale", "1.5"],
             "--guidance-rescale 1.5: must be in [0, 1]"),
            ([gen, "--model", class_model, "--class-label", "1", "--guidance-scale", "-1"], "--guidance-scale -1"),
            ([gen, "--model", class_model, "--class-label", "1", "--guidance-scale", "nan"], "--guidance-scale nan"),
            ([gen, "--model", cross_model, "--embeds", "neg.safetensors", "--negative-embeds", "neg.safetensors",
              "-o", "neg.safetensors"], "neg.safetensors"),
            ([gen, "--model", class_model, "--class-label", "1", "--guidance-scale", "2", "-n", "100000000",
              "--batch-size", "100000000"], "--batch-size 100000000 (twice the rows under guidance) needs about"),
            ([inv, "--model", class_model, "--class-label", "9", "c_0.png", "-o", "bad.pt"], "--class-label 9"),
            ([inv, "--model", class_model, "c_0.png", "-o", "bad.pt"], "give --class-label"),
        ]
        for cmd, expected in bad:
            before = set(os.listdir(w))
            full = cmd + (["-o", "bad.png"] if cmd[0] == gen and "-o" not in cmd else []) + ["--steps", "2", "-q"]
            r = run(full, w)
            lines = [line for line in r.stderr.splitlines() if line.strip()]
            check(r.returncode == 2, f"{' '.join(cmd[1:])}: exit {r.returncode} ({r.stderr.strip()})")
            check(len(lines) == 1 and expected in lines[0], f"{' '.join(cmd[1:])}: message {r.stderr.strip()!r}")
            check(set(os.listdir(w)) == before, f"{' '.join(cmd[1:])}: wrote {set(os.listdir(w)) - before}")
        if embedded:
            check_embedded(gen, embedded, w)
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("conditional tools: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
