#!/usr/bin/env python3
"""Our config_json(), read back by the pinned diffusers, gives the same scheduler config.

    check_config_roundtrip.py DUMP_EXE GOLDEN_JSON

Runs DUMP_EXE (tests/dump_scheduler_configs) into a temporary folder; for every case, loads the
written scheduler_config.json with diffusers' X.from_config and compares its config, key by key,
with the config diffusers has when built from the case's own arguments.
"""
import json
import math
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import diffusers


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def main():
    exe, golden = sys.argv[1], sys.argv[2]
    cases = {c["name"]: c for c in json.load(open(golden))["cases"] if c["expect"] == "ok"}
    failures = 0
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([exe, out], check=True)
        for name, case in cases.items():
            cls = getattr(diffusers, case["class"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ours = cls.from_config(cls.load_config(Path(out) / name))
                reference = cls(**case["config"])
            for key, value in reference.config.items():
                if key.startswith("_"):
                    continue
                # diffusers records the set_alpha_to_one argument, not the deprecated
                # set_alpha_to_zero that overrode it; we write the value in use.
                if key == "set_alpha_to_one" and "set_alpha_to_zero" in case["config"]:
                    value = case["config"]["set_alpha_to_zero"]
                if key not in ours.config or not same(ours.config[key], value):
                    failures += 1
                    print(f"FAIL {name}: {key} = {ours.config.get(key)!r}, diffusers has {value!r}")
    print(f"{len(cases)} configs read back by diffusers {diffusers.__version__}: {failures} differences")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
