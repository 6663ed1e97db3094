"""A run's report: a summary table, a contact sheet (content | style | result) and an HTML page
with thumbnails, settings, timings and loss curves as inline SVG. Reads only the ledger."""

from __future__ import annotations

import hashlib
import html
import io
import os
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageOps

from . import images
from .config import StyleConfig
from .ledger import Ledger, RunLock

THUMB = 160  # contact-sheet and HTML thumbnail side, pixels
SHEET_NAME = "contact_sheet.jpg"
HTML_NAME = "report.html"
THUMBS_DIR = "thumbs"  # report.html's thumbnails, next to it
SHEET_MAX_ROWS = 200  # beyond this the sheet gets unwieldy; the HTML page lists every job


def status(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Counts by status, throughput, ETA and failures; safe while a run is writing."""
    ledger = Ledger(run_dir, readonly=True)
    try:
        counts = ledger.counts()
        jobs = ledger.jobs()
        run = ledger.last_run()
    finally:
        ledger.close()
    total = sum(counts.values())
    finished = [
        j for j in jobs if j["status"] == "done" and j["ended"] and run and j["ended"] >= run["started"]
    ]
    now = time.time()
    elapsed = ((run["ended"] or now) - run["started"]) if run else 0.0
    per_hour = len(finished) / elapsed * 3600 if elapsed > 0 and finished else 0.0
    left = counts["pending"] + counts["running"]
    eta = left / per_hour * 3600 if per_hour and left else None
    return {
        "run_dir": str(run_dir),
        "total": total,
        **counts,
        "running_now": RunLock.held(run_dir),
        "done_this_run": len(finished),
        "elapsed_s": round(elapsed, 1),
        "images_per_hour": round(per_hour, 1),
        "eta_s": round(eta, 1) if eta is not None else None,
        "failures": [
            {"job": j["output"] or f"line {j['row']}", "error": j["error"]}
            for j in jobs
            if j["status"] == "failed"
        ],
        "in_flight": [{"job": j["output"], "worker": j["worker"]} for j in jobs if j["status"] == "running"],
    }


def _thumb(path: str | Path | None) -> Image.Image:
    tile = Image.new("RGB", (THUMB, THUMB), (235, 235, 235))
    if not path:
        return tile
    try:
        with Image.open(path) as img:
            if img.width * img.height > StyleConfig.max_pixels:  # a bomb: never decode it
                raise ValueError("too large")
            img.draft("RGB", (THUMB, THUMB))  # JPEG: decode at reduced size
            img = images.to_rgb(ImageOps.exif_transpose(img))
            img.thumbnail((THUMB, THUMB))
    except Exception:
        ImageDraw.Draw(tile).text((8, THUMB // 2), "unreadable", fill=(160, 0, 0))
        return tile
    tile.paste(img, ((THUMB - img.width) // 2, (THUMB - img.height) // 2))
    return tile


def contact_sheet(run_dir: str | os.PathLike, jobs: list[dict[str, Any]]) -> Path | None:
    """content | style | result, one row per image job (failed rows show the error)."""
    rows = [j for j in jobs if j["kind"] == "image"][:SHEET_MAX_ROWS]
    if not rows:
        return None
    pad = 4
    sheet = Image.new("RGB", (3 * THUMB + 4 * pad, len(rows) * (THUMB + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for i, job in enumerate(rows):
        y = pad + i * (THUMB + pad)
        result = Path(run_dir) / job["output"] if job["status"] == "done" else None
        tiles = [job["content"], (job["styles"] or [None])[0], result]
        for k, path in enumerate(tiles):
            sheet.paste(_thumb(path), (pad + k * (THUMB + pad), y))
        if job["status"] != "done":
            draw.text((2 * THUMB + 3 * pad + 6, y + 6), job["status"], fill=(200, 0, 0))
    path = Path(run_dir) / SHEET_NAME
    sheet.save(path, quality=88)
    return path


def _thumb_file(run_dir: Path, path: str | Path | None) -> str:
    """A cached JPEG thumbnail under RUN_DIR/thumbs (keyed by path, size and mtime); its relative URL."""
    if not path or not Path(path).is_file():
        return ""
    st = Path(path).stat()
    key = hashlib.sha1(f"{Path(path).resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:20]
    rel = f"{THUMBS_DIR}/{key}.jpg"
    target = run_dir / rel
    if not target.exists():
        buf = io.BytesIO()
        _thumb(path).save(buf, "JPEG", quality=80)
        images.atomic_write(target, buf.getvalue())
    return rel


def loss_svg(history: list[dict[str, float]] | None, width: int = 320, height: int = 120) -> str:
    """Total, content and style loss against step, log scale, as an inline SVG."""
    if not history:
        return "<em>no loss history</em>"
    import math

    series = {"total": "#222", "content": "#1f77b4", "style": "#d62728"}
    steps = [h["step"] for h in history]
    values = [math.log10(max(h.get(k, 0.0), 1e-12)) for h in history for k in series if k in h]
    lo, hi = min(values), max(values)
    hi = hi if hi > lo else lo + 1
    s0, s1 = min(steps), max(max(steps), min(steps) + 1)
    m = 6

    def xy(step: float, v: float) -> str:
        x = m + (step - s0) / (s1 - s0) * (width - 2 * m)
        y = height - m - (math.log10(max(v, 1e-12)) - lo) / (hi - lo) * (height - 2 * m)
        return f"{x:.1f},{y:.1f}"

    lines = []
    for key, colour in series.items():
        pts = " ".join(xy(h["step"], h[key]) for h in history if key in h)
        if pts:
            lines.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{pts}"><title>{key}</title></polyline>'
            )
    legend = " ".join(
        f'<text x="{m + 60 * i}" y="12" font-size="10" fill="{c}">{k}</text>'
        for i, (k, c) in enumerate(series.items())
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img"><rect width="100%" height="100%" fill="#fafafa"/>'
        f"{''.join(lines)}{legend}</svg>"
    )


_PARAM_KEYS = (
    "size",
    "steps",
    "coarse_steps",
    "scales",
    "style_weight",
    "content_weight",
    "optimizer",
    "seed",
    "color",
)


def html_report(run_dir: str | os.PathLike, jobs: list[dict[str, Any]], info: dict[str, Any]) -> Path:
    """report.html: summary, then per job thumbnails, settings, timings and its loss curve."""
    esc = html.escape
    rows = []
    for job in jobs:
        params = job["params"] or {}
        settings = ", ".join(f"{k}={params[k]}" for k in _PARAM_KEYS if k in params)
        losses = job["losses"] or {}
        loss_text = ", ".join(f"{k} {v:.4g}" for k, v in losses.items() if isinstance(v, (int, float)))
        result = Path(run_dir) / job["output"] if job["output"] and job["status"] == "done" else None
        tiles = (("content", job["content"]), ("style", (job["styles"] or [None])[0]), ("result", result))
        uris = [(label, p, _thumb_file(Path(run_dir), p)) for label, p in tiles]
        imgs = "".join(
            f'<img src="{esc(uri)}" alt="{label}" title="{esc(str(p))}">' for label, p, uri in uris if uri
        )
        timing = f"{job['seconds']:.1f} s" if job["seconds"] else ""
        rows.append(
            f'<tr class="{esc(job["status"])}"><td>{imgs}</td><td><b>{esc(job["output"] or "")}</b><br>'
            f"{esc(job['status'])} · attempts {job['attempts']} · {esc(job['worker'] or '')} {timing}<br>"
            f"<small>{esc(settings)}</small><br><small>{esc(loss_text)}</small>"
            f'<div class="err">{esc(job["error"] or "")}</div></td>'
            f"<td>{loss_svg(job['history']) if job['kind'] == 'image' else ''}</td></tr>"
        )
    summary = (
        f"{info['done']} done, {info['failed']} failed, {info['pending'] + info['running']} to do, "
        f"of {info['total']} · {info['images_per_hour']} images/hour"
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>stylebatch run {esc(str(run_dir))}</title>
<style>body{{font-family:sans-serif;margin:1.5em}} td{{vertical-align:top;padding:6px;border-bottom:1px solid #ddd}}
img{{margin-right:4px;max-width:{THUMB}px}} .failed{{background:#fff3f3}} .err{{color:#b00}}</style></head>
<body><h1>stylebatch run</h1><p>{esc(str(Path(run_dir).resolve()))}</p><p>{esc(summary)}</p>
<table>{"".join(rows)}</table></body></html>
"""
    path = Path(run_dir) / HTML_NAME
    from .images import atomic_write

    atomic_write(path, page.encode())
    return path


def write_report(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Write the contact sheet and report.html; returns the status dict plus their paths."""
    info = status(run_dir)
    ledger = Ledger(run_dir, readonly=True)
    try:
        jobs = ledger.jobs()
    finally:
        ledger.close()
    sheet = contact_sheet(run_dir, jobs)
    page = html_report(run_dir, jobs, info)
    return {**info, "contact_sheet": str(sheet) if sheet else None, "html": str(page)}
