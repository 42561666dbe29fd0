"""ddim's emulation of numpy's float32 log (ddim::numpy::log_float32) against np.log, bit for bit.

Usage: check_numpy_log.py PROBE_LIBRARY [--all]
  default   every exponent's first and last mantissas, special values, and 2^24 random inputs
  --all     all 2^32 float32 bit patterns (about two minutes)
NaN results match when both are NaN.
"""

import argparse
import ctypes
import sys

import numpy as np


def compare(lib, x):
    with np.errstate(all="ignore"):
        expected = np.log(x)
    got = np.empty_like(x)
    lib.ddim_log_float32(x.ctypes.data_as(ctypes.c_void_p), got.ctypes.data_as(ctypes.c_void_p),
                         ctypes.c_int64(x.size))
    same = (expected.view(np.uint32) == got.view(np.uint32)) | (np.isnan(expected) & np.isnan(got))
    return x[~same], expected[~same], got[~same]


def chunks(all_patterns):
    if all_patterns:
        step = 1 << 24
        for start in range(0, 1 << 32, step):
            yield np.arange(start, start + step, dtype=np.uint64).astype(np.uint32)
        return
    exponents = np.arange(256, dtype=np.uint32) << 23
    edges = np.concatenate([exponents, exponents | 1, exponents | 0x7FFFFF, exponents | 0x3504F3])
    yield np.concatenate([edges, edges | 0x80000000])
    yield np.random.default_rng(0).integers(0, 1 << 32, size=1 << 24, dtype=np.uint64).astype(np.uint32)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("probe")
    parser.add_argument("--all", action="store_true", help="every float32 bit pattern")
    args = parser.parse_args()
    lib = ctypes.CDLL(args.probe)
    if not lib.ddim_log_float32_uses_vector_code():
        print("check_numpy_log: this CPU has neither AVX2+FMA nor AVX-512F; numpy and ddim both call logf")
    checked = 0
    for bits in chunks(args.all):
        x, expected, got = compare(lib, bits.view(np.float32))
        checked += bits.size
        if x.size:
            for xi, ei, gi in list(zip(x, expected, got))[:10]:
                print(f"log({xi!r}) [0x{xi.view(np.uint32):08x}]: numpy {ei!r}, ddim {gi!r}", file=sys.stderr)
            print(f"check_numpy_log: {x.size} of {bits.size} inputs differ", file=sys.stderr)
            return 1
    print(f"check_numpy_log: {checked} inputs, all bit-identical to numpy {np.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
