#!/usr/bin/env python3
"""Score digits the embedded model draws, next to the same scores for real held-out digits.

    .venv/bin/python scripts/eval_digits.py [--model models/digits] [--n 200] [--steps 50] [--seed 0]
                                            [--set KEY=VALUE ...] [--grid grid.png]
    .venv/bin/python scripts/eval_digits.py --conditional --model models/digits-cond [--guidance 1,2,4]
                                            [--per-class 50] [--grid grid.png]

Samples come from build/bin/ddim-generate (one batch of n) and are downscaled from 32x32 to 8x8
(area averaging), as load_digits' data. The held-out real digits (the split
scripts/train_digits.py uses), upscaled and downscaled the same way, are scored alike. Two scores:

- confident share: a classifier (scikit-learn's SVC with probabilities) trained on the training
  split calls the digit with confidence >= 0.9; and how many of the 10 classes those cover.
- Frechet distance (as FID, on other features): the Gaussians fitted to the PCA features
  (--components, fitted on the training split) of the digits and of the training split,
  |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)). The held-out real digits' distance is its
  floor: what a perfect model's n samples would score (the first n of them, as the distance grows
  as n shrinks).

--conditional scores a class-conditional model (scripts/train_digits.py --conditional): for each
guidance scale and each class c, --per-class samples of `--class-label c --guidance-scale G`, and
the conditional accuracy (the share whose argmax class under the classifier is c) with the
confident share; then n samples of the null class (--class-label null, guidance 1), scored as an
unconditional model is. --grid then shows one row per class at the best guidance.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.decomposition import PCA
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


def frechet_distance(a, b):
    """Frechet distance between Gaussians fitted to the rows of a and of b."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    if np.iscomplexobj(root):
        root = root.real  # rounding leaves tiny imaginary parts
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def sample(args, tmp, n, pattern, extra=()):
    command = [args.bin, "--model", args.model, "-n", str(n), "--batch-size", str(n), "--seed", str(args.seed),
               "--steps", str(args.steps), "-o", os.path.join(tmp, pattern), "-q", "--device", "cpu", *extra]
    for setting in args.set:
        command += ["--set", setting]
    subprocess.run(command, check=True)


def read_samples(tmp, prefix, n):
    imgs = [np.asarray(Image.open(os.path.join(tmp, f"{prefix}_{i:04d}.png")).convert("L"), dtype=np.float32) / 255
            for i in range(n)]
    return torch.tensor(np.stack(imgs)).unsqueeze(1) * 2 - 1


def save_class_grid(tmp, classes, path, gap=2):
    """Ten samples per class in one row each (grid_0000.png ... in class order), white between cells."""
    cells = [Image.open(os.path.join(tmp, f"grid_{i:04d}.png")).convert("L") for i in range(10 * classes)]
    w, h = cells[0].size
    grid = Image.new("L", (10 * w + 9 * gap, classes * h + (classes - 1) * gap), 255)
    for i, cell in enumerate(cells):
        grid.paste(cell, ((i % 10) * (w + gap), (i // 10) * (h + gap)))
    grid.save(path)


def conditional(args, clf, pca, reference, held_x):
    """Conditional accuracy per class and guidance, and the null class scored as an unconditional model."""
    guidances = [float(g) for g in args.guidance.split(",")]
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        for g in guidances:
            rows = {}
            for c in range(args.classes):
                prefix = f"c{c}_g{g}"
                sample(args, tmp, args.per_class, prefix + "_%04d.png",
                       ["--class-label", str(c), "--guidance-scale", str(g)])
                features = to_features(read_samples(tmp, prefix, args.per_class))
                probs = clf.predict_proba(features)
                rows[str(c)] = {"accuracy": round(float((probs.argmax(1) == c).mean()), 3),
                                "confident_share": round(float((probs.max(1) >= 0.9).mean()), 3)}
            table[str(g)] = {"per_class": rows,
                             "min_accuracy": min(r["accuracy"] for r in rows.values()),
                             "confident_share": round(sum(r["confident_share"] for r in rows.values()) / len(rows), 3)}
        best = max(guidances, key=lambda g: (table[str(g)]["min_accuracy"], table[str(g)]["confident_share"]))
        sample(args, tmp, args.n, "null_%04d.png", ["--class-label", "null", "--guidance-scale", "1"])
        null = read_samples(tmp, "null", args.n)
        if args.grid:
            labels = ",".join(str(c) for c in range(args.classes) for _ in range(10))
            sample(args, tmp, 10 * args.classes, "grid_%04d.png", ["--class-label", labels, "--guidance-scale", str(best)])
            save_class_grid(tmp, args.classes, args.grid)
    share, classes = score(clf, null)
    fd = frechet_distance(pca.transform(to_features(null)), reference)
    real_fd = frechet_distance(pca.transform(to_features(held_x[:args.n])), reference)
    return {"steps": args.steps, "seed": args.seed, "per_class": args.per_class, "guidance": table,
            "best_guidance": best,
            "null_class": {"samples": args.n, "confident_share": round(share, 3), "classes": classes,
                           "frechet_distance": round(fd, 2), "frechet_ratio": round(fd / real_fd, 2)}}


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.path.join(root, "models", "digits"))
    parser.add_argument("--bin", default=os.path.join(root, "build", "bin", "ddim-generate"))
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="passed on to ddim-generate (a scheduler config override; repeatable)")
    parser.add_argument("--components", type=int, default=16, help="PCA features for the Frechet distance")
    parser.add_argument("--grid", default="", help="also save a grid of the first 64 samples (--conditional: "
                                                   "ten per class, one row each, at the best guidance)")
    parser.add_argument("--conditional", action="store_true", help="score a class-conditional model")
    parser.add_argument("--guidance", default="1,2,4", help="--conditional: the guidance scales to score")
    parser.add_argument("--per-class", type=int, default=50, help="--conditional: samples per class and guidance")
    parser.add_argument("--classes", type=int, default=10, help="--conditional: the classes 0..N-1 to score")
    args = parser.parse_args()
    (train_x, train_y), (held_x, _) = digits_dataset(0)
    if not 2 <= args.n <= len(held_x):
        parser.error(f"--n must be in [2, {len(held_x)}] (the held-out digits are the Frechet distance's floor)")

    train_features = to_features(train_x)
    clf = SVC(probability=True, random_state=0).fit(train_features, train_y.numpy())
    pca = PCA(n_components=args.components, random_state=0).fit(train_features)
    reference = pca.transform(train_features)
    if args.conditional:
        if args.per_class < 1 or args.classes < 1:
            parser.error("--per-class and --classes must be >= 1")
        print(json.dumps(conditional(args, clf, pca, reference, held_x), indent=2))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        # One batch of n, as these scores were first measured (a run in batches draws other samples).
        sample(args, tmp, args.n, "s_%04d.png")
        imgs = [np.asarray(Image.open(os.path.join(tmp, f"s_{i:04d}.png")).convert("L"), dtype=np.float32) / 255
                for i in range(args.n)]
        if args.grid:
            sample(args, tmp, 64, "g_%02d.png", ["--grid", os.path.abspath(args.grid)])
    samples = torch.tensor(np.stack(imgs)).unsqueeze(1) * 2 - 1
    real = held_x[:args.n]
    gen_share, gen_classes = score(clf, samples)
    real_share, real_classes = score(clf, held_x)
    gen_fd = frechet_distance(pca.transform(to_features(samples)), reference)
    real_fd = frechet_distance(pca.transform(to_features(real)), reference)
    result = {"samples": args.n, "steps": args.steps, "seed": args.seed, "set": args.set,
              "generated": {"confident_share": round(gen_share, 3), "classes": gen_classes,
                            "frechet_distance": round(gen_fd, 2)},
              "real_held_out": {"confident_share": round(real_share, 3), "classes": real_classes, "n": len(held_x),
                                "frechet_distance": round(real_fd, 2), "frechet_n": len(real)},
              "frechet_ratio": round(gen_fd / real_fd, 2)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
