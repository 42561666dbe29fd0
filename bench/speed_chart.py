#!/usr/bin/env python3
"""An SVG bar chart of speed-ups over diffusers from bench/pipeline_vs_diffusers.py --json files.

    .venv/bin/python bench/speed_chart.py LABEL=results.json [LABEL=results.json ...] --out docs/speed.svg

One group of bars per (model, batch): ddim's AOTInductor and TorchScript backends, each as
diffusers' time per step / ddim's, with a line at 1 (diffusers' own speed).
"""
import argparse
import json
import sys
from xml.sax.saxutils import escape

COLORS = {"aoti_speedup": "#2b6cb0", "torchscript_speedup": "#a0aec0"}
NAMES = {"aoti_speedup": "ddim, AOTInductor package", "torchscript_speedup": "ddim, TorchScript"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="LABEL=path.json")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    groups = []
    for item in args.results:
        label, path = item.split("=", 1)
        for row in json.load(open(path))["rows"]:
            groups.append((f"{label}, batch {row['batch']}", row))
    top = max(max(r["aoti_speedup"], r["torchscript_speedup"]) for _, r in groups)
    top = max(2.0, float(int(top) + 1))
    width, height, left, bottom, plot_h = 120 + 150 * len(groups), 340, 60, 70, 220
    y = lambda v: 34 + plot_h * (1 - v / top)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           'font-size="12">', f'<rect width="{width}" height="{height}" fill="white"/>']
    for tick in range(0, int(top) + 1):
        out.append(f'<line x1="{left}" x2="{width - 20}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                   f'stroke="{"#333" if tick == 1 else "#e2e8f0"}"/>')
        out.append(f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick}×</text>')
    for i, (label, row) in enumerate(groups):
        x0 = left + 20 + 150 * i
        for j, key in enumerate(("aoti_speedup", "torchscript_speedup")):
            v = row[key]
            x = x0 + 50 * j
            out.append(f'<rect x="{x}" y="{y(v):.1f}" width="44" height="{y(0) - y(v):.1f}" fill="{COLORS[key]}"/>')
            out.append(f'<text x="{x + 22}" y="{y(v) - 4:.1f}" text-anchor="middle">{v:.2f}×</text>')
        out.append(f'<text x="{x0 + 47}" y="{y(0) + 18:.1f}" text-anchor="middle">{escape(label)}</text>')
    for j, key in enumerate(COLORS):
        lx = left + 260 * j
        out.append(f'<rect x="{lx}" y="{height - 28}" width="14" height="14" fill="{COLORS[key]}"/>')
        out.append(f'<text x="{lx + 20}" y="{height - 17}">{NAMES[key]}</text>')
    out.append(f'<text x="{left}" y="14">speed-up per DDIM step over diffusers\' eager DDIMPipeline (CPU, float32; '
               '1× = diffusers)</text>')
    out.append("</svg>")
    with open(args.out, "w") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
