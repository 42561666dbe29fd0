#!/usr/bin/env python3
"""Score digits the embedded model draws, next to the same score for real held-out digits.

    .venv/bin/python scripts/eval_digits.py [--model models/digits] [--n 200] [--steps 50] [--seed 0] [--grid grid.png]

A classifier (scikit-learn's SVC with probabilities) is trained on the training split of the
8x8 digits (the split scripts/train_digits.py uses). Samples from build/bin/ddim-generate, downscaled
from 32x32 to 8x8 (area averaging), are scored by the share the classifier calls with confidence
>= 0.9 and by how many of the 10 classes they cover; the held-out real digits, upscaled and
downscaled the same way, are scored alike.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.svm import SVC

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_digits import digits_dataset  # noqa: E402


def to_features(x32):
    """[N, 1, 32, 32] in [-1, 1] -> [N, 64] in [0, 16], as load_digits' data."""
    x8 = F.adaptive_avg_pool2d((x32 + 1) / 2, 8)
    return (x8.clamp(0, 1) * 16).reshape(len(x32), -1).numpy()


def score(clf, x32):
    probs = clf.predict_proba(to_features(x32))
    confident = probs.max(1) >= 0.9
    classes = set(probs.argmax(1)[confident].tolist())
    return float(confident.mean()), len(classes)


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.path.join(root, "models", "digits"))
    parser.add_argument("--bin", default=os.path.join(root, "build", "bin", "ddim-generate"))
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", default="", help="also save a grid of the first 64 samples")
    args = parser.parse_args()

    (train_x, train_y), (held_x, _) = digits_dataset(0)
    clf = SVC(probability=True, random_state=0).fit(to_features(train_x), train_y.numpy())

    with tempfile.TemporaryDirectory() as tmp:
        # One batch of n, as these scores were first measured (a run in batches draws other samples).
        subprocess.run([args.bin, "--model", args.model, "-n", str(args.n), "--batch-size", str(args.n),
                        "--seed", str(args.seed), "--steps",
                        str(args.steps), "-o", os.path.join(tmp, "s_%04d.png"), "-q", "--device", "cpu"], check=True)
        imgs = [np.asarray(Image.open(os.path.join(tmp, f"s_{i:04d}.png")).convert("L"), dtype=np.float32) / 255
                for i in range(args.n)]
        if args.grid:
            subprocess.run([args.bin, "--model", args.model, "-n", "64", "--batch-size", "64",
                            "--seed", str(args.seed), "--steps",
                            str(args.steps), "-o", os.path.join(tmp, "g_%02d.png"), "--grid", args.grid, "-q",
                            "--device", "cpu"], check=True)
    samples = torch.tensor(np.stack(imgs)).unsqueeze(1) * 2 - 1
    gen_share, gen_classes = score(clf, samples)
    real_share, real_classes = score(clf, held_x)
    result = {"samples": args.n, "steps": args.steps, "seed": args.seed,
              "generated": {"confident_share": round(gen_share, 3), "classes": gen_classes},
              "real_held_out": {"confident_share": round(real_share, 3), "classes": real_classes, "n": len(held_x)}}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
