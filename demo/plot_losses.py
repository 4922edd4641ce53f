#!/usr/bin/env python3
"""Draws the loss curves of the demo's training logs (JSONL, one object per step) into one SVG.

usage: plot_losses.py OUT.svg NAME=LOG.jsonl [NAME=LOG.jsonl ...]
"""
import json
import math
import sys

W, H, PAD = 900, 300, 50
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def read(path):
    pts = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                if math.isfinite(r.get("loss", float("nan"))):
                    pts.append((r["step"], r["loss"]))
    return pts


def panel(name, pts, color, x0):
    w = W // 2 - PAD
    if not pts:
        return f'<text x="{x0 + 10}" y="{PAD}">{name}: no steps</text>'
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    lo, hi = min(ys), max(ys)
    hi = hi if hi > lo else lo + 1
    sx = lambda s: x0 + PAD + (s - xs[0]) / max(1, xs[-1] - xs[0]) * (w - PAD)
    sy = lambda v: PAD / 2 + (hi - v) / (hi - lo) * (H - 1.5 * PAD)
    path = " ".join(f"{'M' if i == 0 else 'L'}{sx(s):.1f},{sy(v):.1f}" for i, (s, v) in enumerate(pts))
    out = [f'<rect x="{x0 + PAD}" y="{PAD / 2}" width="{w - PAD}" height="{H - 1.5 * PAD}" fill="none" stroke="#999"/>',
           f'<path d="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>',
           f'<text x="{x0 + PAD + 5}" y="{PAD / 2 + 15}" font-size="13">{name}</text>',
           f'<text x="{x0 + 5}" y="{sy(hi) + 4:.1f}" font-size="11">{hi:.3g}</text>',
           f'<text x="{x0 + 5}" y="{sy(lo) + 4:.1f}" font-size="11">{lo:.3g}</text>',
           f'<text x="{x0 + PAD}" y="{H - PAD / 2 + 15}" font-size="11">step {xs[0]}</text>',
           f'<text x="{x0 + w - 60}" y="{H - PAD / 2 + 15}" font-size="11">step {xs[-1]}</text>']
    return "\n".join(out)


def main():
    out, runs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    rows = (len(runs) + 1) // 2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H * rows}" font-family="sans-serif">',
             '<rect width="100%" height="100%" fill="white"/>']
    for i, (name, path) in enumerate(runs):
        parts.append(f'<g transform="translate(0,{H * (i // 2)})">')
        parts.append(panel(name + " loss", read(path), COLORS[i % len(COLORS)], (i % 2) * (W // 2)))
        parts.append("</g>")
    parts.append("</svg>")
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(parts) + "\n")
    import os
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
