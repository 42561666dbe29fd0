#!/usr/bin/env bash
# Usage: install_and_embed.sh CMAKE BUILD_DIR EMBED_SOURCE_DIR TORCH_DIR VERSION
# Installs the build into a temporary prefix, builds examples/embed against it with
# find_package(ddim), runs it, and runs the installed tool (RPATH of the install tree). Then builds
# the tools' sources (src/cli) against the installed package alone: they use only the public headers.
set -euo pipefail
cmake_bin="$1"; build_dir="$2"; embed_src="$3"; torch_dir="$4"; version="$5"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"

"$cmake_bin" --install "$build_dir" --prefix "$prefix" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log"; exit 1; }
test -f "$prefix/lib/cmake/ddim/ddimConfig.cmake"
test -f "$prefix/lib/cmake/ddim/ddimConfigVersion.cmake"
test -f "$prefix/include/ddim/ddim.h"
for model in digits digits-cond; do
  test -f "$prefix/share/ddim/models/$model/unet/model.pt" || { echo "FAIL the embedded model $model is not installed"; exit 1; }
done

echo "installed tool: $("$prefix/bin/ddim-generate" --version)"
readelf -d "$prefix/bin/ddim-generate" | grep -E 'RUNPATH|RPATH' | grep -q '\$ORIGIN/../lib' \
  || { echo "FAIL installed ddim-generate has no \$ORIGIN/../lib RUNPATH"; exit 1; }

"$cmake_bin" -S "$embed_src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  "-DCMAKE_PREFIX_PATH=$prefix;$torch_dir" >"$work/configure.log" 2>&1 \
  || { cat "$work/configure.log"; exit 1; }
"$cmake_bin" --build "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
out="$("$work/build/embed")"
echo "$out"
grep -q "ddim $version" <<<"$out"
grep -q "sum=6" <<<"$out"

tools_src="$(cd "$embed_src/../../src/cli" && pwd)"
"$cmake_bin" -S "$tools_src" -B "$work/tools" -DCMAKE_BUILD_TYPE=Release \
  "-DCMAKE_PREFIX_PATH=$prefix;$torch_dir" >"$work/tools-configure.log" 2>&1 \
  || { cat "$work/tools-configure.log"; exit 1; }
"$cmake_bin" --build "$work/tools" >"$work/tools-build.log" 2>&1 || { cat "$work/tools-build.log"; exit 1; }
# No include folder of the source tree but the tools' own: the library's headers come from the prefix.
repo="$(cd "$tools_src/../.." && pwd)"
if grep -rhoE -- '(-I|-isystem )[^ ]+' "$work/tools" --include=flags.make | grep -F "$repo" | grep -vF "$tools_src" \
    | grep -q .; then
  echo "FAIL the tools were compiled with include folders of the source tree:"
  grep -rhoE -- '(-I|-isystem )[^ ]+' "$work/tools" --include=flags.make | sort -u
  exit 1
fi
echo "tools built against the installed headers: $("$work/tools/ddim-generate" --version)"
echo "install and embed passed"
