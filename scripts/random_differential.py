#!/usr/bin/env python3
"""Seeded randomized differential cases: random scheduler configs run by the pinned diffusers.

    .venv/bin/python scripts/random_differential.py --cases 300 --seed 1 --out DIR

Draws configs over every option of the four scheduler classes (num_train_timesteps from 2 to 2000,
step counts from 1 to num_train_timesteps, every beta schedule, prediction type, spacing, sigma
spacing, solver order, algorithm and final-step rule), runs each through diffusers exactly as
scripts/make_golden.py runs its fixed cases, and writes DIR/golden.{json,bin} in the same format.
test_scheduler_parity replays them when DDIM_GOLDEN_DIR names that folder; tests/check_differential.sh
runs both:

    bash tests/check_differential.sh .venv/bin/python . build/bin/test_scheduler_parity 300 1

A case is a trajectory to match, or a refusal: ddim must refuse what diffusers cannot run, at load,
at set_timesteps or at the step where it fails, and must run what diffusers runs.
"""
import argparse
import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden  # noqa: E402  (sets the pinned kernels before torch loads)

import diffusers  # noqa: E402
import torch  # noqa: E402

DDIM = ("DDIMScheduler", "DDIMInverseScheduler")


def log_uniform_int(rng, low, high):
    """An integer in [low, high], uniform in log scale (small values as likely as large ones)."""
    return max(low, min(high, int(round(math.exp(rng.uniform(math.log(low), math.log(high + 1)))))))


def draw_case(rng, index):
    cls = rng.choice(["DDIMScheduler", "DDIMInverseScheduler", "DPMSolverMultistepScheduler",
                      "DPMSolverMultistepInverseScheduler"])
    inverse = cls.endswith("InverseScheduler")
    train = log_uniform_int(rng, 2, 2000)
    cfg = {"num_train_timesteps": train}
    beta = rng.choice(["linear", "scaled_linear", "squaredcos_cap_v2", "trained"])
    if beta == "trained":
        cfg["trained_betas"] = make_golden.trained_betas(train)
    else:
        cfg["beta_schedule"] = beta
        if beta != "squaredcos_cap_v2" and rng.random() < 0.5:
            start = rng.choice([0.0001, 0.00085, 0.001])
            cfg["beta_start"] = start
            cfg["beta_end"] = rng.choice([0.012, 0.02, 0.03])
    spacings = ["leading", "trailing"] if cls == "DDIMInverseScheduler" else ["leading", "trailing", "linspace"]
    cfg["timestep_spacing"] = rng.choice(spacings)
    if rng.random() < 0.2:
        cfg["steps_offset"] = 1
    case = {"class": cls, "config": cfg}
    if cls in DDIM:
        cfg["prediction_type"] = rng.choice(["epsilon", "sample", "v_prediction"])
        cfg["clip_sample"] = rng.random() < 0.5
        if rng.random() < 0.3:
            cfg["clip_sample_range"] = rng.choice([0.5, 1.0, 2.0])
        cfg["set_alpha_to_one"] = rng.random() < 0.5
        if rng.random() < 0.15:
            cfg["rescale_betas_zero_snr"] = True
        if cls == "DDIMScheduler":
            if rng.random() < 0.2:
                cfg["thresholding"] = True
                cfg["dynamic_thresholding_ratio"] = rng.choice([0.0, 0.9, 0.995])
                cfg["sample_max_value"] = rng.choice([1.0, 1.5])
            if rng.random() < 0.3:
                case["eta"] = rng.choice([0.3, 1.0])
                case["seed"] = rng.randrange(10000)
    else:
        cfg["solver_order"] = rng.choice([1, 2, 3])
        algo = rng.choice(["dpmsolver++", "dpmsolver", "sde-dpmsolver++", "sde-dpmsolver"])
        cfg["algorithm_type"] = algo
        cfg["solver_type"] = rng.choice(["midpoint", "heun"])
        cfg["lower_order_final"] = rng.random() < 0.7
        cfg["euler_at_final"] = rng.random() < 0.2
        sigmas = rng.choice(["none", "none", "karras", "exponential", "beta", "flow"] + ([] if inverse else ["lu"]))
        if sigmas == "flow":
            cfg["use_flow_sigmas"] = True
            cfg["prediction_type"] = "flow_prediction"
            cfg["flow_shift"] = rng.choice([1.0, 3.0])
        else:
            if sigmas != "none":
                cfg[{"karras": "use_karras_sigmas", "exponential": "use_exponential_sigmas",
                     "beta": "use_beta_sigmas", "lu": "use_lu_lambdas"}[sigmas]] = True
            cfg["prediction_type"] = rng.choice(["epsilon", "sample", "v_prediction"])
        if not inverse:
            cfg["final_sigmas_type"] = rng.choice(["zero", "sigma_min"])
        if rng.random() < 0.15:
            cfg["lambda_min_clipped"] = -5.1
        if rng.random() < 0.1:
            cfg["thresholding"] = True
            cfg["dynamic_thresholding_ratio"] = rng.choice([0.0, 0.995])
        if algo.startswith("sde"):
            case["seed"] = rng.randrange(10000)
    # Step counts from 1 to num_train_timesteps, small ones more often; long schedules on one sample.
    steps = log_uniform_int(rng, 1, train)
    case["steps"] = steps
    case["shape"] = [2, 3, 2, 2] if steps <= 50 else [1, 3, 2, 2]
    case["init_seed"] = rng.randrange(10000)
    case["name"] = f"random{index}_{cls}_train{train}_steps{steps}"
    return case


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = random.Random(args.seed)
    blob = make_golden.Blob()
    records = [make_golden.run_case(blob, draw_case(rng, i), "cpu") for i in range(args.cases)]
    doc = {"generator": f"scripts/random_differential.py --cases {args.cases} --seed {args.seed}",
           "diffusers_version": diffusers.__version__, "torch_version": torch.__version__,
           "model": "0.5 * sin(3 x + 0.01 t) + 0.3 x", "cases": records, "timestep_tables": [], "from_config": []}
    make_golden.write_golden(args.out, doc, blob)
    ok = sum(r["expect"] == "ok" for r in records)
    print(f"{len(records)} random cases (seed {args.seed}): {ok} trajectories, {len(records) - ok} refusals")
    return 0


if __name__ == "__main__":
    sys.exit(main())
