#!/usr/bin/env bash
# Usage: check_elf.sh HAS_CUDA(ON|OFF) TORCH_LIB_DIR FILE...
# For each ELF file: libcuda.so.1 (the driver) is not NEEDED; with a CUDA LibTorch, the file or the
# libddim it needs lists libtorch_cuda.so; its RUNPATH/RPATH names TORCH_LIB_DIR and has no empty
# entry.
set -u
has_cuda="$1"; torch_lib="$2"; shift 2
fail=0
for f in "$@"; do
  dyn="$(readelf -d "$f")" || { echo "FAIL $f: readelf failed"; fail=1; continue; }
  needed="$(grep '(NEEDED)' <<<"$dyn" | sed 's/.*\[\(.*\)\]/\1/')"
  paths="$(grep -E '\((RUNPATH|RPATH)\)' <<<"$dyn" | sed 's/.*\[\(.*\)\]/\1/')"
  echo "$f"
  echo "  NEEDED: $(tr '\n' ' ' <<<"$needed")"
  echo "  RUNPATH: $paths"
  if grep -qx 'libcuda.so.1\|libcuda.so' <<<"$needed"; then
    echo "FAIL $f needs the NVIDIA driver library libcuda.so.1: it would not start on a machine without one"
    fail=1
  fi
  if grep -q 'libcudart' <<<"$needed"; then
    echo "FAIL $f needs the CUDA runtime directly; LibTorch loads its own"
    fail=1
  fi
  if [ "$has_cuda" = ON ] && ! grep -qx 'libtorch_cuda.so' <<<"$needed"; then
    echo "FAIL $f does not list libtorch_cuda.so: CUDA would be unavailable at run time"
    fail=1
  fi
  if [ -n "$paths" ] && tr ':' '\n' <<<"$paths:" | head -n -1 | grep -qx ''; then
    echo "FAIL $f has an empty RUNPATH entry, which means the current directory"
    fail=1
  fi
  if ! tr ':' '\n' <<<"$paths" | grep -qxF "$torch_lib"; then
    echo "FAIL $f has no RUNPATH entry for LibTorch ($torch_lib)"
    fail=1
  fi
done
[ "$fail" -eq 0 ] && echo "all ELF checks passed"
exit "$fail"
