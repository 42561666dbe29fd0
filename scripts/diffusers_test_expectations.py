#!/usr/bin/env python3
"""Recompute, with the pinned diffusers, every number tests/test_diffusers_expectations.cpp takes
from diffusers' own scheduler tests, and check each against that test's literal and tolerance.

    .venv/bin/python scripts/diffusers_test_expectations.py

The fixtures, configs and loops are those of diffusers' tests/schedulers/test_scheduler_ddim.py,
test_scheduler_ddim_inverse.py, test_scheduler_dpm_multi.py and test_scheduler_dpm_multi_inverse.py
(the versions that pass against 0.42.1). Prints each value; exits 1 if a literal does not hold.
"""
import sys

import torch
from diffusers import (DDIMInverseScheduler, DDIMScheduler, DPMSolverMultistepInverseScheduler,
                       DPMSolverMultistepScheduler)


def sample_deter(flip=False):
    x = torch.arange(768)
    if flip:
        x = x.flip(-1)
    return (x.reshape(3, 8, 8, 4) / 768).permute(3, 0, 1, 2)


def model(sample, t):
    return sample * t / (t + 1)


DDIM = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear", clip_sample=True)
DPM = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear", solver_order=2,
           prediction_type="epsilon", thresholding=False, sample_max_value=1.0, algorithm_type="dpmsolver++",
           solver_type="midpoint", lower_order_final=False, lambda_min_clipped=-float("inf"), variance_type=None)
DPM_FORWARD = dict(DPM, euler_at_final=False, final_sigmas_type="sigma_min")


def loop(scheduler, t_start=None):
    scheduler.set_timesteps(10)
    timesteps = scheduler.timesteps
    sample = sample_deter()
    if t_start is not None:
        timesteps = timesteps[t_start * scheduler.order:]
        sample = scheduler.add_noise(sample, sample_deter(flip=True), timesteps[:1])
    for t in timesteps:
        sample = scheduler.step(model(sample, t), t, sample).prev_sample
    return sample.abs().sum().item(), sample.abs().mean().item()


# (what, scheduler class, config, t_start, expected sum or None, expected mean, mean tolerance)
CASES = [
    ("ddim no_noise", DDIMScheduler, {}, None, 172.0067, 0.223967, 1e-3),
    ("ddim v_prediction", DDIMScheduler, {"prediction_type": "v_prediction"}, None, 52.5302, 0.0684, 1e-3),
    ("ddim set_alpha_to_one", DDIMScheduler, {"set_alpha_to_one": True, "beta_start": 0.01}, None, 149.8295, 0.1951,
     1e-3),
    ("ddim no_set_alpha_to_one", DDIMScheduler, {"set_alpha_to_one": False, "beta_start": 0.01}, None, 149.0784,
     0.1941, 1e-3),
    ("ddim with_noise", DDIMScheduler, {}, 8, 354.5418, 0.4616, 1e-3),
    ("ddim_inverse no_noise", DDIMInverseScheduler, {}, None, 671.6816, 0.8746, 1e-3),
    ("ddim_inverse v_prediction", DDIMInverseScheduler, {"prediction_type": "v_prediction"}, None, 1394.2185, 1.8154,
     1e-3),
    ("ddim_inverse set_alpha_to_one", DDIMInverseScheduler, {"set_alpha_to_one": True, "beta_start": 0.01}, None,
     539.9622, 0.7031, 1e-3),
    ("ddim_inverse no_set_alpha_to_one", DDIMInverseScheduler, {"set_alpha_to_one": False, "beta_start": 0.01}, None,
     542.6722, 0.7066, 1e-3),
    ("dpm no_noise", DPMSolverMultistepScheduler, {}, None, None, 0.3301, 1e-3),
    ("dpm no_noise_thres", DPMSolverMultistepScheduler,
     {"thresholding": True, "dynamic_thresholding_ratio": 0.87, "sample_max_value": 0.5}, None, None, 1.1364, 1e-3),
    ("dpm v_prediction", DPMSolverMultistepScheduler, {"prediction_type": "v_prediction"}, None, None, 0.2251, 1e-3),
    ("dpm karras v_prediction", DPMSolverMultistepScheduler,
     {"prediction_type": "v_prediction", "use_karras_sigmas": True}, None, None, 0.2096, 1e-3),
    ("dpm lu v_prediction", DPMSolverMultistepScheduler,
     {"prediction_type": "v_prediction", "use_lu_lambdas": True}, None, None, 0.1554, 1e-3),
    ("dpm with_noise", DPMSolverMultistepScheduler, {}, 5, 318.4111, 0.4146, 1e-3),
    ("dpm_inverse no_noise", DPMSolverMultistepInverseScheduler, {}, None, None, 0.7047, 1e-3),
    ("dpm_inverse no_noise_thres", DPMSolverMultistepInverseScheduler,
     {"thresholding": True, "dynamic_thresholding_ratio": 0.87, "sample_max_value": 0.5}, None, None, 19.8933, 1e-3),
    ("dpm_inverse v_prediction", DPMSolverMultistepInverseScheduler, {"prediction_type": "v_prediction"}, None, None,
     1.5194, 1e-3),
    ("dpm_inverse karras v_prediction", DPMSolverMultistepInverseScheduler,
     {"prediction_type": "v_prediction", "use_karras_sigmas": True}, None, None, 1.7833, 2e-3),
]


def main():
    failures = 0
    for what, cls, overrides, t_start, want_sum, want_mean, tol in CASES:
        base = DDIM if cls in (DDIMScheduler, DDIMInverseScheduler) else (
            DPM_FORWARD if cls is DPMSolverMultistepScheduler else DPM)
        got_sum, got_mean = loop(cls(**dict(base, **overrides)), t_start)
        ok = abs(got_mean - want_mean) < tol and (want_sum is None or abs(got_sum - want_sum) < 1e-2)
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {what}: sum {got_sum:.4f} (test {want_sum}), mean {got_mean:.6f} "
              f"(test {want_mean} +- {tol})")
    for cls, want in ((DDIMScheduler, [801, 601, 401, 201, 1]), (DDIMInverseScheduler, [1, 201, 401, 601, 801])):
        s = cls(**dict(DDIM, steps_offset=1))
        s.set_timesteps(5)
        ok = s.timesteps.tolist() == want
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {cls.__name__} steps_offset=1, 5 steps: {s.timesteps.tolist()}")
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
