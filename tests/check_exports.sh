#!/usr/bin/env bash
# Usage: check_exports.sh LIBDDIM
# The shared library exports the public ddim:: API only: no ddim::detail / ddim::config /
# ddim::numpy internals and no symbol outside namespace ddim (std:: or c10:: template instances).
set -euo pipefail
lib="$1"
symbols="$(nm -DC --defined-only "$lib" | sed -E 's/^[0-9a-f]+ [A-Za-z] //')"
count="$(grep -c . <<<"$symbols" || true)"
internal="$(grep -E 'ddim::(detail|config|numpy|cli)::' <<<"$symbols" || true)"
foreign="$(grep -vE '^(ddim::|typeinfo for ddim::|typeinfo name for ddim::|vtable for ddim::)' <<<"$symbols" || true)"
status=0
if [ -n "$internal" ]; then
  echo "FAIL internal symbols exported:"; echo "$internal" | head -20; status=1
fi
if [ -n "$foreign" ]; then
  echo "FAIL symbols outside the ddim:: API exported ($(grep -c . <<<"$foreign")):"; echo "$foreign" | head -20; status=1
fi
# A handful of the public API must be there (a library that exports nothing passes the above).
for want in 'ddim::scheduler_from_config(' 'ddim::DDIMPipeline::generate(' 'vtable for ddim::DDIMScheduler' \
            'typeinfo for ddim::ConfigError'; do
  grep -qF "$want" <<<"$symbols" || { echo "FAIL $want is not exported"; status=1; }
done
[ "$status" -eq 0 ] && echo "exports: $count symbols, all of the public ddim:: API"
exit "$status"
