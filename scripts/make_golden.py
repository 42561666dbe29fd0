#!/usr/bin/env python3
"""Reference numbers for the scheduler tests, produced by the pinned diffusers.

    .venv/bin/python scripts/make_golden.py --out DIR  # writes DIR/golden.{json,bin}

The tests make it on the machine that checks, in the same test run (the golden_data fixture of
tests/CMakeLists.txt writes build/tests/golden): its last bits depend on the CPU, so data made on
one machine is not the reference on another (docs/parity.md).

Every case builds one of diffusers' DDIMScheduler, DDIMInverseScheduler,
DPMSolverMultistepScheduler or DPMSolverMultistepInverseScheduler from a config, calls
set_timesteps, and runs the sampling (or inversion) loop with a smooth stand-in for a UNet, which the
C++ test computes with the same LibTorch ops:

    model(x, t) = 0.5 * sin(3 x + 0.01 t) + 0.3 x      (repeated along channels for learned variance)

It records the timesteps, every step's prev_sample (and pred_original_sample for DDIM), and
add_noise results. Cases whose diffusers run raises or returns NaN/inf are recorded as refusals:
the C++ library must reject those configs when they are loaded. Other files:

- golden.json: the cases (config, arguments, expected timesteps, where each tensor lies in the blob);
- golden.bin: float32 little-endian tensors, concatenated.

LibTorch picks its CPU kernels by instruction set (AVX2, AVX-512), and their float32 sin, exp and
sqrt do not round alike everywhere: the data is made with ATEN_CPU_CAPABILITY=avx2, which every
x86-64 machine of the last decade can run, and test_scheduler_parity replays it under the same
setting, so the bits agree on any such machine.

With --device cuda the schedulers and the stand-in model run on the GPU (the noise is still drawn on
the CPU, as ddim draws it): CUDA's float32 sin and the order of its reductions differ from the
CPU's, so the CUDA parity test replays data made on the GPU it runs on (the fixture writes it to
DIR/cuda where torch sees a GPU).
"""
import argparse
import json
import math
import os
import sys
import warnings

# Before torch is loaded: the kernels the data is made with (see the docstring).
os.environ["ATEN_CPU_CAPABILITY"] = "avx2"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import diffusers
from diffusers import (DDIMInverseScheduler, DDIMScheduler, DDPMScheduler, DPMSolverMultistepInverseScheduler,
                       DPMSolverMultistepScheduler)

CLASSES = {
    "DDIMScheduler": DDIMScheduler,
    "DDIMInverseScheduler": DDIMInverseScheduler,
    "DPMSolverMultistepScheduler": DPMSolverMultistepScheduler,
    "DPMSolverMultistepInverseScheduler": DPMSolverMultistepInverseScheduler,
}
DDIM_FAMILY = ("DDIMScheduler", "DDIMInverseScheduler")


def smooth_model(x, t, out_channels):
    eps = torch.sin(x * 3.0 + t * 0.01) * 0.5 + x * 0.3
    if out_channels != x.shape[1]:
        eps = torch.cat([eps, eps], dim=1)
    return eps


class Blob:
    def __init__(self):
        self.parts = []
        self.offset = 0

    def add(self, tensor):
        arr = tensor.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4")
        entry = {"offset": self.offset, "shape": list(arr.shape)}
        self.parts.append(arr.tobytes())
        self.offset += arr.size
        return entry


def trained_betas(n):
    # Python's ** calls libm's pow for each value; numpy's array power takes SIMD code on AVX-512
    # CPUs that differs in the last bit, which would make the data depend on the machine.
    return [float(b) ** 1.1 for b in np.linspace(0.0001, 0.02, n)]


def run_case(blob, case, device):
    cls = CLASSES[case["class"]]
    config = dict(case["config"])
    shape = case.get("shape", [2, 3, 2, 2])
    out_channels = shape[1] * 2 if config.get("variance_type") in ("learned", "learned_range") else shape[1]
    inverse = "Inverse" in case["class"]
    steps = case["steps"]
    record = dict(case)
    record["shape"] = shape
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = cls(**config)
            sched.set_timesteps(steps, device=device)
            timesteps = [int(t) for t in sched.timesteps]
            gen = torch.Generator().manual_seed(case.get("init_seed", 0))
            x = torch.randn(shape, generator=gen).to(device)
            if inverse:
                x = (x * 0.5).clamp(-1, 1)  # an image-like start
            init = x.clone()
            step_gen = torch.Generator().manual_seed(case["seed"]) if case.get("seed") is not None else None
            noise_gen = (torch.Generator().manual_seed(case["variance_noise_seed"])
                         if case.get("variance_noise_seed") is not None else None)
            prevs, preds, noises = [], [], []
            for t in timesteps:
                out = smooth_model(x, t, out_channels)
                kwargs = {}
                if case["class"] == "DDIMScheduler":
                    kwargs = dict(eta=case.get("eta", 0.0),
                                  use_clipped_model_output=case.get("use_clipped_model_output", False))
                if case["class"] != "DDIMInverseScheduler":
                    if step_gen is not None:
                        kwargs["generator"] = step_gen
                    if noise_gen is not None:
                        noise = torch.randn(shape, generator=noise_gen)
                        noises.append(noise)
                        kwargs["variance_noise"] = noise.to(device)
                res = sched.step(out, t, x, **kwargs)
                x = res.prev_sample
                prevs.append(x)
                if case["class"] in DDIM_FAMILY:
                    preds.append(res.pred_original_sample)
            traj = torch.stack(prevs)
            if not torch.isfinite(traj).all():
                raise FloatingPointError("diffusers returned non-finite samples")
            record["timesteps"] = timesteps
            record["init"] = blob.add(init)
            record["prev_samples"] = blob.add(traj)
            if preds and len(preds) <= 50:
                record["pred_original_samples"] = blob.add(torch.stack(preds))
            if noises:
                record["variance_noises"] = blob.add(torch.stack(noises))
            if case["class"] != "DDIMInverseScheduler":  # diffusers has no add_noise there
                picks = [timesteps[0], timesteps[len(timesteps) // 2], timesteps[-1]][: shape[0]]
                picks += [timesteps[-1]] * (shape[0] - len(picks))
                noise = torch.randn(shape, generator=torch.Generator().manual_seed(7))
                noisy = sched.add_noise(init, noise.to(device), torch.tensor(picks, dtype=torch.int64, device=device))
                record["add_noise"] = {"timesteps": picks, "noise": blob.add(noise), "result": blob.add(noisy)}
            record["expect"] = "ok"
    except Exception as e:  # diffusers refuses or breaks: so must we, at load time
        record["expect"] = "refuse"
        record["diffusers_error"] = f"{type(e).__name__}: {e}".splitlines()[0][:200]
    return record


def ddim_cases():
    cases = []
    betas = {
        "linear": {},
        "scaled_linear": {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012},
        "squaredcos": {"beta_schedule": "squaredcos_cap_v2"},
        "trained": {"trained_betas": trained_betas(1000)},
    }
    for cls, spacings in (("DDIMScheduler", ("leading", "trailing", "linspace")),
                          ("DDIMInverseScheduler", ("leading", "trailing"))):
        short = "ddim" if cls == "DDIMScheduler" else "ddim_inv"
        for bname, bcfg in betas.items():
            for pred in ("epsilon", "sample", "v_prediction"):
                for sp in spacings:
                    cfg = dict(bcfg, prediction_type=pred, timestep_spacing=sp)
                    cases.append(dict(name=f"{short}_{bname}_{pred}_{sp}", **{"class": cls}, config=cfg, steps=10))
        for sp in spacings:
            # 61 trailing steps over 1000 place timestep -1, read as the last training timestep.
            for n in (1, 2, 3, 7, 13, 50, 61, 333, 999, 1000):
                shape = [1, 3, 2, 2] if n > 50 else [2, 3, 2, 2]
                cases.append(dict(name=f"{short}_steps{n}_{sp}", **{"class": cls}, config={"timestep_spacing": sp},
                                  steps=n, shape=shape))
            for n in (1, 7, 500):
                cases.append(dict(name=f"{short}_train500_steps{n}_{sp}", **{"class": cls},
                                  config={"timestep_spacing": sp, "num_train_timesteps": 500}, steps=n))
        options = {
            "noclip": {"clip_sample": False},
            "cliprange": {"clip_sample_range": 0.5, "prediction_type": "sample"},
            "alpha_not_one": {"set_alpha_to_one": False},
            "offset": {"steps_offset": 1},
            "zero_snr": {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing",
                         "prediction_type": "v_prediction"},
            "zero_snr_eps": {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing"},
        }
        if cls == "DDIMScheduler":
            options["thresholding"] = {"thresholding": True, "dynamic_thresholding_ratio": 0.9,
                                       "sample_max_value": 1.5, "prediction_type": "sample"}
            options["thresholding_eps"] = {"thresholding": True}
        else:
            options["alpha_to_zero_false"] = {"set_alpha_to_zero": False}
            options["alpha_to_zero_true"] = {"set_alpha_to_zero": True, "set_alpha_to_one": False}
        for oname, ocfg in options.items():
            cases.append(dict(name=f"{short}_{oname}", **{"class": cls}, config=ocfg, steps=10))
    # Stochastic DDIM: eta > 0 with a seeded generator, or with given variance noise.
    for eta in (0.5, 1.0):
        for sp in ("leading", "trailing"):
            cases.append(dict(name=f"ddim_eta{eta}_{sp}", **{"class": "DDIMScheduler"},
                              config={"timestep_spacing": sp}, steps=10, eta=eta, seed=1234))
    cases.append(dict(name="ddim_eta1_clipped_output", **{"class": "DDIMScheduler"},
                      config={"clip_sample_range": 0.8}, steps=10, eta=1.0, seed=5, use_clipped_model_output=True))
    cases.append(dict(name="ddim_clipped_output_eta0", **{"class": "DDIMScheduler"},
                      config={"clip_sample_range": 0.8}, steps=10, use_clipped_model_output=True))
    cases.append(dict(name="ddim_eta_variance_noise", **{"class": "DDIMScheduler"}, config={}, steps=10, eta=0.7,
                      variance_noise_seed=99))
    return cases


def dpm_cases():
    cases = []
    for cls in ("DPMSolverMultistepScheduler", "DPMSolverMultistepInverseScheduler"):
        short = "dpm" if cls == "DPMSolverMultistepScheduler" else "dpm_inv"
        inverse = cls.endswith("InverseScheduler")
        # Solver order x algorithm x solver type x prediction type.
        for order in (1, 2, 3):
            for algo in ("dpmsolver++", "sde-dpmsolver++", "dpmsolver", "sde-dpmsolver"):
                for solver in ("midpoint", "heun"):
                    for pred in ("epsilon", "sample", "v_prediction"):
                        for steps in (12, 20):
                            if steps == 20 and order == 1:
                                continue
                            cfg = dict(solver_order=order, algorithm_type=algo, solver_type=solver,
                                       prediction_type=pred)
                            if algo in ("dpmsolver", "sde-dpmsolver") and not inverse:
                                cfg["final_sigmas_type"] = "sigma_min"
                            case = dict(name=f"{short}_o{order}_{algo}_{solver}_{pred}_s{steps}",
                                        **{"class": cls}, config=cfg, steps=steps)
                            if algo.startswith("sde"):
                                case["seed"] = 4321
                            cases.append(case)
        # Sigma kinds.
        kinds = {"karras": {"use_karras_sigmas": True}, "exponential": {"use_exponential_sigmas": True},
                 "beta": {"use_beta_sigmas": True},
                 "flow": {"use_flow_sigmas": True, "prediction_type": "flow_prediction"},
                 "flow_shift3": {"use_flow_sigmas": True, "prediction_type": "flow_prediction", "flow_shift": 3.0}}
        if not inverse:
            kinds["lu"] = {"use_lu_lambdas": True}
        for kname, kcfg in kinds.items():
            for order in (1, 2, 3):
                for algo in ("dpmsolver++", "sde-dpmsolver++"):
                    for steps in (10, 25):
                        case = dict(name=f"{short}_{kname}_o{order}_{algo}_s{steps}", **{"class": cls},
                                    config=dict(kcfg, solver_order=order, algorithm_type=algo), steps=steps)
                        if algo.startswith("sde"):
                            case["seed"] = 77
                        cases.append(case)
            for bname, bcfg in (("scaled", {"beta_schedule": "scaled_linear", "beta_start": 0.00085,
                                            "beta_end": 0.012}), ("cos", {"beta_schedule": "squaredcos_cap_v2"})):
                cases.append(dict(name=f"{short}_{kname}_{bname}", **{"class": cls}, config=dict(kcfg, **bcfg),
                                  steps=15))
        # Spacings and step counts.
        for sp in ("linspace", "leading", "trailing"):
            for n in (1, 2, 3, 7, 25, 999, 1000):
                shape = [1, 3, 2, 2] if n > 50 else [2, 3, 2, 2]
                cases.append(dict(name=f"{short}_steps{n}_{sp}", **{"class": cls}, config={"timestep_spacing": sp},
                                  steps=n, shape=shape))
            cases.append(dict(name=f"{short}_train500_{sp}", **{"class": cls},
                              config={"timestep_spacing": sp, "num_train_timesteps": 500}, steps=7))
            cases.append(dict(name=f"{short}_lambda_clip_{sp}", **{"class": cls},
                              config={"timestep_spacing": sp, "lambda_min_clipped": -5.1}, steps=10))
        options = {
            "no_lower_final": {"lower_order_final": False, "solver_order": 3},
            "euler_final": {"euler_at_final": True, "solver_order": 3},
            "learned": {"variance_type": "learned"},
            "learned_range": {"variance_type": "learned_range", "algorithm_type": "dpmsolver",
                              **({} if inverse else {"final_sigmas_type": "sigma_min"})},
            "thresholding": {"thresholding": True, "dynamic_thresholding_ratio": 0.9, "sample_max_value": 1.5,
                             "prediction_type": "sample"},
            "thresholding_dpmsolver": {"thresholding": True, "algorithm_type": "dpmsolver",
                                       **({} if inverse else {"final_sigmas_type": "sigma_min"})},
            "trained": {"trained_betas": trained_betas(1000)},
            "scaled_linear": {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012},
            "squaredcos": {"beta_schedule": "squaredcos_cap_v2"},
            "offset": {"timestep_spacing": "leading", "steps_offset": 1},
            "sde_variance_noise": {"algorithm_type": "sde-dpmsolver++"},
        }
        if not inverse:
            options["sigma_min_final"] = {"final_sigmas_type": "sigma_min"}
            options["zero_snr"] = {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing",
                                   "prediction_type": "v_prediction"}
            options["zero_snr_sigma_min"] = {"rescale_betas_zero_snr": True, "final_sigmas_type": "sigma_min"}
            options["dynamic_shifting_flag"] = {"use_dynamic_shifting": True}
            options["deis_alias"] = {"algorithm_type": "deis"}
            options["bh2_alias"] = {"solver_type": "bh2"}
        for oname, ocfg in options.items():
            case = dict(name=f"{short}_{oname}", **{"class": cls}, config=ocfg, steps=12)
            if oname == "sde_variance_noise":
                case["variance_noise_seed"] = 11
            cases.append(case)
    return cases


def timestep_tables():
    """Timesteps only, for many step counts: exact integer comparison."""
    counts = list(range(1, 101)) + [127, 200, 250, 300, 333, 400, 499, 500, 501, 600, 666, 750, 999, 1000]
    tables = []
    specs = [("DDIMScheduler", sp, {}) for sp in ("leading", "trailing", "linspace")]
    specs += [("DDIMScheduler", "leading", {"steps_offset": 1})]
    specs += [("DDIMInverseScheduler", sp, {}) for sp in ("leading", "trailing")]
    specs += [(c, sp, {}) for c in ("DPMSolverMultistepScheduler", "DPMSolverMultistepInverseScheduler")
              for sp in ("linspace", "leading", "trailing")]
    specs += [(c, "linspace", {"use_karras_sigmas": True})
              for c in ("DPMSolverMultistepScheduler", "DPMSolverMultistepInverseScheduler")]
    for cls, sp, extra in specs:
        for train in (1000, 999):
            cfg = dict(extra, timestep_spacing=sp, num_train_timesteps=train)
            rows = []
            for n in counts:
                if n > train:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    s = CLASSES[cls](**cfg)
                    s.set_timesteps(n)
                rows.append([n, [int(t) for t in s.timesteps]])
            tables.append({"class": cls, "config": cfg, "rows": rows})
    return tables


def from_config_cases():
    """diffusers' X.from_config(other.config): the effective config and timesteps X ends up with."""
    sources = [
        DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=True, variance_type="fixed_small"),
        DDPMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction", timestep_spacing="trailing",
                      clip_sample=False, thresholding=True),
        DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, set_alpha_to_one=False,
                      steps_offset=1, clip_sample=False),
        DPMSolverMultistepScheduler(solver_order=3, use_karras_sigmas=True, lambda_min_clipped=-5.1),
        DPMSolverMultistepInverseScheduler(algorithm_type="dpmsolver", solver_type="heun"),
    ]
    out = []
    for src in sources:
        src_json = src.to_json_string()
        for target in CLASSES:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    sched = CLASSES[target].from_config(json.loads(src_json))
                    sched.set_timesteps(10)
            except Exception as e:  # e.g. a spacing the target class does not know
                out.append({"source": src_json, "target": target, "expect": "refuse",
                            "diffusers_error": f"{type(e).__name__}: {e}".splitlines()[0][:200]})
                continue
            effective = json.loads(sched.to_json_string())
            effective.pop("_diffusers_version", None)
            # As text: Python's JSON may hold -Infinity (lambda_min_clipped), which strict parsers refuse.
            out.append({"source": src_json, "target": target, "expect": "ok",
                        "effective": json.dumps(effective, sort_keys=True),
                        "timesteps": [int(t) for t in sched.timesteps]})
    return out


def write_golden(out, doc, blob):
    """OUT/golden.json and OUT/golden.bin, each through a temporary name and a rename."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "golden.bin.tmp"), "wb") as f:
        for part in blob.parts:
            f.write(part)
    with open(os.path.join(out, "golden.json.tmp"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    os.replace(os.path.join(out, "golden.bin.tmp"), os.path.join(out, "golden.bin"))
    os.replace(os.path.join(out, "golden.json.tmp"), os.path.join(out, "golden.json"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for golden.json and golden.bin")
    parser.add_argument("--device", default="cpu",
                        help="where diffusers' schedulers and the stand-in model run (cpu, cuda); the "
                             "noise is drawn on the CPU either way, as ddim draws it")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(1)
    blob = Blob()
    records = [run_case(blob, c, device) for c in ddim_cases() + dpm_cases()]
    names = [r["name"] for r in records]
    assert len(names) == len(set(names)), "case names must be unique"
    doc = {
        "generator": "scripts/make_golden.py",
        "diffusers_version": diffusers.__version__,
        "torch_version": torch.__version__,
        "device": str(device),
        "model": "0.5 * sin(3 x + 0.01 t) + 0.3 x",
        "cases": records,
        "timestep_tables": timestep_tables(),
        "from_config": from_config_cases(),
    }
    write_golden(args.out, doc, blob)
    ok = sum(r["expect"] == "ok" for r in records)
    print(f"{len(records)} cases ({ok} trajectories, {len(records) - ok} refusals), "
          f"{blob.offset * 4 / 1e6:.1f} MB of tensors, diffusers {diffusers.__version__}")
    for r in records:
        if r["expect"] == "refuse":
            print(f"  refuse {r['name']}: {r['diffusers_error']}")


if __name__ == "__main__":
    sys.exit(main())
