"""The video report: `video_report.json` and `video_report.html` (inline-SVG per-pair profile)."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from ..images import atomic_write


def svg_profile(
    frames: list[int], errors: list[float], floor: list[float], seams: list[int], cuts: list[int]
) -> str:
    """A line plot of E_pair per pair (and the input's own), seams dashed red, cuts grey."""
    width, height, pad = 720, 240, 40
    if not errors:
        return "<p>no frame pairs to plot</p>"
    top = max(max(errors), max(floor or [0])) or 1.0
    first, last = min(frames), max(max(frames), min(frames) + 1)

    def x(t: float) -> float:
        return pad + (t - first) / (last - first) * (width - 2 * pad)

    def y(v: float) -> float:
        return height - pad - v / top * (height - 2 * pad)

    def line(values: list[float], colour: str) -> str:
        points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(frames, values, strict=False))
        return f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>'

    marks = []
    for t, colour, dash in [(s, "#d62728", "4,3") for s in seams] + [(c, "#888", "2,2") for c in cuts]:
        if first <= t <= last:
            marks.append(
                f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{pad}" y2="{height - pad}" '
                f'stroke="{colour}" stroke-dasharray="{dash}"/>'
            )
    axes = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>'
        f'<text x="{pad}" y="{pad - 8}" font-size="11">{top:.4g}</text>'
        f'<text x="{pad}" y="{height - pad + 14}" font-size="11">frame {first}</text>'
        f'<text x="{width - pad}" y="{height - pad + 14}" font-size="11" text-anchor="end">{last}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">{axes}'
        + "".join(marks)
        + line(errors, "#1f77b4")
        + (line(floor, "#2ca02c") if floor else "")
        + "</svg>"
    )


def write(run_dir: str | os.PathLike, data: dict[str, Any]) -> tuple[Path, Path]:
    """Write the JSON and HTML reports atomically into `run_dir`."""
    run_dir = Path(run_dir)
    json_path = atomic_write(run_dir / "video_report.json", json.dumps(data, indent=2, default=str).encode())
    we, floor = data["warp_error"], data["warp_error_input"]
    svg = svg_profile(we["frames"], we["pairs"], floor["pairs"], data["seams"], data["cuts"])
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in data.items()
        if not isinstance(v, (dict, list))
    )
    seam = data.get("seam_summary") or {}
    if seam.get("seam_mean") is not None:
        seam_text = (
            f"Pairs at chunk seams (red, dashed): mean E_pair {seam['seam_mean']:.5f} "
            f"vs {seam['other_mean']:.5f} elsewhere."
        )
    else:
        seam_text = "One chunk per shot: no seams."
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>stylebatch video report</title>
<style>body{{font-family:sans-serif;margin:2em}} th{{text-align:left;padding-right:1em}}</style></head><body>
<h1>{html.escape(str(data.get("output", "")))}</h1>
<p>Warping error (Lai et al. 2018) of the output: <b>{we["mean"]:.5f}</b>; the input's own: {floor["mean"]:.5f}.
{seam_text}</p>
{svg}
<p><span style="color:#1f77b4">blue: stylised output</span>, <span style="color:#2ca02c">green: input video</span>,
grey dotted: scene cuts.</p>
<table>{rows}</table></body></html>"""
    html_path = atomic_write(run_dir / "video_report.html", page.encode())
    return json_path, html_path
