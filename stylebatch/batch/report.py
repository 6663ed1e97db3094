"""A run's report, read from the ledger (and the outputs' sidecars): `status`, a labelled contact
sheet (content | style | result), `report.html` (a gallery: failures first, filters, results large,
loss curves with axes) and `jobs.csv` (every job, for runs too big to show)."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import math
import os
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from PIL import Image, ImageDraw, ImageFont, ImageOps

from .. import images, metadata
from ..config import StyleConfig
from .ledger import Ledger, RunLock

SHEET_NAME = "contact_sheet.jpg"
HTML_NAME = "report.html"
CSV_NAME = "jobs.csv"  # every job of the run, however many
THUMBS_DIR = "thumbs"  # report.html's thumbnails, next to it (cached by path, size and mtime)
THUMB = 160  # contact sheet: content and style cell side, pixels
SHEET_RESULT = 320  # contact sheet: result cell side
SHEET_PAD, SHEET_HEAD, SHEET_BAND = 8, 48, 20  # contact sheet: gaps, column headers, a job's name
SMALL_PX, SMALL_BOX = 240, 180  # report.html: content and style thumbnails, and their display box
LARGE_PX, LARGE_BOX = 640, 440  # report.html: result thumbnails (click one for the file itself)
# Caps that keep a 100,000-job report to seconds and its page to a few MB; jobs.csv lists all.
HTML_MAX_FAILED = 200
HTML_MAX_RESULTS = 200
HTML_MAX_TODO = 100
SHEET_MAX_ROWS = 100  # also keeps the JPEG under its 65,535 px height limit
SHEET_MAX_FAILED = 20

_JOB_COLUMNS = (
    "id, kind, source, row, content, styles, style_weights, output, params, status, attempts, "
    "error, worker, node, started, ended, seconds, losses"
)
_ORDER = " ORDER BY source, row, output"


# -- reading the ledger ------------------------------------------------------------------------


def _decode(row: Any) -> dict[str, Any]:
    d = dict(row)
    for key in ("styles", "style_weights", "params", "losses", "history"):
        if key in d:
            d[key] = json.loads(d[key]) if d[key] else None
    return d


def job_name(job: dict[str, Any]) -> str:
    """A job's name for people: its output, or for a row that never got one, its manifest line."""
    if job.get("output"):
        return job["output"]
    source = Path(job["source"]).name if job.get("source") else "manifest"
    return f"{source}, line {job['row']}"


def status(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Counts by status, throughput, ETA and failures; safe while a run is writing."""
    ledger = Ledger(run_dir, readonly=True)
    try:
        return _status(ledger, run_dir)
    finally:
        ledger.close()


def _status(ledger: Ledger, run_dir: str | os.PathLike) -> dict[str, Any]:
    db = ledger.db
    counts = ledger.counts()
    run = ledger.last_run()
    finished = 0
    if run:
        finished = db.execute(
            "SELECT COUNT(*) FROM jobs WHERE current = 1 AND status = 'done' AND ended >= ?",
            (run["started"],),
        ).fetchone()[0]
    failed = db.execute(
        "SELECT output, source, row, error FROM jobs WHERE current = 1 AND status = 'failed'" + _ORDER
    ).fetchall()
    running = db.execute(
        "SELECT output, source, row, worker FROM jobs WHERE current = 1 AND status = 'running'" + _ORDER
    ).fetchall()
    total = sum(counts.values())
    now = time.time()
    elapsed = ((run["ended"] or now) - run["started"]) if run else 0.0
    per_hour = finished / elapsed * 3600 if elapsed > 0 and finished else 0.0
    left = counts["pending"] + counts["running"]
    eta = left / per_hour * 3600 if per_hour and left else None
    return {
        "run_dir": str(run_dir),
        "total": total,
        **counts,
        "running_now": RunLock.held(run_dir),
        "done_this_run": finished,
        "elapsed_s": round(elapsed, 1),
        "images_per_hour": round(per_hour, 1),
        "eta_s": round(eta, 1) if eta is not None else None,
        "failures": [{"job": job_name(dict(r)), "error": r["error"]} for r in failed],
        "in_flight": [{"job": job_name(dict(r)), "worker": r["worker"]} for r in running],
    }


@dataclass
class _Run:
    """What the report shows: capped job lists plus whole-run figures from one pass over the jobs."""

    run_dir: Path
    info: dict[str, Any]
    failed: list[dict[str, Any]] = field(default_factory=list)
    done: list[dict[str, Any]] = field(default_factory=list)
    todo: list[dict[str, Any]] = field(default_factory=list)
    random_jobs: int = 0
    valid_jobs: int = 0  # jobs that are not invalid manifest rows
    requested_device: str = "auto"
    devices: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # device -> [(worker, jobs)]
    worker_device: dict[tuple[str | None, str | None], str] = field(default_factory=dict)
    style_counts: dict[str, int] = field(default_factory=dict)  # style file -> jobs, whole run


def _sidecar(run_dir: Path, output: str | None) -> dict[str, Any]:
    if not output:
        return {}
    try:
        return json.loads(images.sidecar_path(run_dir / output).read_text())
    except (OSError, ValueError):
        return {}


def _json_functions(db: Any) -> None:
    """SQLite's json_extract is built in since 3.38; older builds get a Python one."""
    try:
        db.execute("SELECT json_extract('{}', '$.a')")
    except Exception:

        def extract(text: str | None, path: str) -> Any:
            try:
                value = json.loads(text) if text else None
            except ValueError:
                return None
            return value.get(path[2:]) if isinstance(value, dict) else None

        db.create_function("json_extract", 2, extract, deterministic=True)


_SCAN = (
    "SELECT id, kind, status, output, source, row, content, styles, error, seconds, attempts, worker, node,"
    " json_extract(losses, '$.total'), json_extract(losses, '$.content'), json_extract(losses, '$.style'),"
    # ledger.py writes params with json.dumps' default separators: a substring test is enough and,
    # unlike parsing ~1 KB of JSON per row, costs little on 100,000 rows
    ' instr(params, \'"weights": "random\') > 0 FROM jobs WHERE current = 1' + _ORDER
)
_CSV_HEADER = (
    "name", "status", "error", "output", "content", "styles", "seconds", "attempts", "worker", "node",
    "loss_total", "loss_content", "loss_style", "manifest", "line",
)  # fmt: skip


def _gather(ledger: Ledger, run_dir: Path, info: dict[str, Any]) -> tuple[_Run, bytes]:
    """One pass over the run's jobs (the light columns only): jobs.csv's bytes, the whole-run
    figures, and which jobs the page shows; then those jobs' full rows, loss history included."""
    data = _Run(run_dir, info)
    db = ledger.db
    _json_functions(db)
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(_CSV_HEADER)
    shown: dict[str, list[str]] = {"failed": [], "done": [], "todo": []}
    caps = {"failed": HTML_MAX_FAILED, "done": HTML_MAX_RESULTS, "todo": HTML_MAX_TODO}
    groups: dict[tuple[str | None, str | None], list] = {}  # (node, worker) -> [jobs, an output]
    style_lists: dict[str, int] = {}  # the styles column as stored -> jobs
    style_texts: dict[str | None, str] = {}
    for (ident, kind, state, output, source, line, content, styles, error, seconds, attempts, worker,
         node, l_total, l_content, l_style, random) in db.execute(_SCAN):  # fmt: skip
        name = output or f"{Path(source).name if source else 'manifest'}, line {line}"
        style_text = style_texts.get(styles)
        if style_text is None:  # a run has few distinct style lists: parse each once
            style_text = style_texts[styles] = ";".join(json.loads(styles)) if styles else ""
        out.writerow(
            (name, state, error or "", output or "", content or "", style_text,
             f"{seconds:.2f}" if seconds else "", attempts, worker or "", node or "",
             *("" if v is None else v for v in (l_total, l_content, l_style)),
             source or "", "" if line is None else line)
        )  # fmt: skip
        if kind != "invalid":
            data.valid_jobs += 1
            data.random_jobs += bool(random)
            style_lists[styles] = style_lists.get(styles, 0) + 1
        if state == "done" and kind == "image":
            group = groups.setdefault((node, worker), [0, output])
            group[0] += 1
        key = state if state in ("failed", "done") else "todo"
        if len(shown[key]) < caps[key]:
            shown[key].append(ident)
    for styles, n in style_lists.items():
        for style in json.loads(styles or "[]"):
            data.style_counts[style] = data.style_counts.get(style, 0) + n
    run = ledger.last_run()
    if run and run.get("config"):
        data.requested_device = (json.loads(run["config"]) or {}).get("device") or "auto"

    def rows(ids: list[str], history: bool) -> list[dict[str, Any]]:
        if not ids:
            return []
        cols = _JOB_COLUMNS + (", history" if history else "")
        marks = ",".join("?" * len(ids))
        found = {
            r["id"]: _decode(r) for r in db.execute(f"SELECT {cols} FROM jobs WHERE id IN ({marks})", ids)
        }
        return [found[i] for i in ids if i in found]

    data.failed = rows(shown["failed"], False)
    data.done = rows(shown["done"], True)
    data.todo = rows(shown["todo"], False)
    # one sidecar per worker says its device (a worker keeps one device for life)
    for (node, worker), (n, output) in groups.items():
        device = _sidecar(run_dir, output).get("device") or "device not recorded"
        data.worker_device[(node, worker)] = device
        where = f"{worker} on {node}" if node else str(worker)
        data.devices.setdefault(device, []).append((where, n))
    for job in data.done:
        side = _sidecar(run_dir, job["output"])
        job["device"] = side.get("device") or data.worker_device.get((job["node"], job["worker"]))
    for job in data.failed:
        job["device"] = data.worker_device.get((job["node"], job["worker"]))
    return data, buf.getvalue().encode()


# -- thumbnails --------------------------------------------------------------------------------


def _open_small(path: str | Path | None, side: int) -> tuple[Image.Image, tuple[int, int]] | None:
    """An RGB copy no larger than `side` (EXIF-rotated) and the file's own size; None if unreadable.

    Decompression bombs are refused from the header, never decoded.
    """
    if not path:
        return None
    try:
        with Image.open(path) as img:
            if img.width * img.height > StyleConfig.max_pixels:
                return None
            img.draft("RGB", (side, side))  # JPEG: decode at reduced size
            img = ImageOps.exif_transpose(img)
            size = img.size
            img = images.to_rgb(img)
            img.thumbnail((side, side), Image.Resampling.LANCZOS)
            return img, size
    except Exception:
        return None


Size = tuple[int, int]


def _thumb_file(run_dir: Path, path: str | Path | None, side: int) -> tuple[str, Size | None]:
    """(relative URL of a cached JPEG thumbnail under RUN_DIR/thumbs, the file's own size, upright);
    ('', None) when the file is missing or unreadable; no URL if the thumbnail cannot be written."""
    if not path:
        return "", None
    try:
        st = Path(path).stat()
    except OSError:
        return "", None
    key = f"{Path(path).resolve()}:{st.st_size}:{st.st_mtime_ns}:{side}"
    rel = f"{THUMBS_DIR}/{hashlib.sha1(key.encode()).hexdigest()[:20]}.jpg"
    target = run_dir / rel
    if target.exists():
        try:
            with Image.open(path) as img:  # the header only: the size for the caption
                turned = img.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF: rotated by 90 degrees
                return rel, (img.height, img.width) if turned else img.size
        except Exception:
            return rel, None
    opened = _open_small(path, side)
    if opened is None:
        return "", None
    thumb, size = opened
    buf = io.BytesIO()
    thumb.save(buf, "JPEG", quality=85)
    try:
        images.atomic_write(target, buf.getvalue())
    except OSError:
        return "", size  # a full or read-only disk costs the thumbnail, not the report
    return rel, size


def _shown(size: Size, box: int) -> Size:
    """Display size: fit in box x box (small outputs are shown enlarged, aspect kept)."""
    scale = box / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


# -- loss curves -------------------------------------------------------------------------------


def _nice_step(span: float, n: int = 5) -> float:
    raw = (span or 1.0) / n
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e5:
        return f"{v:.4g}"
    mant, exp = f"{v:.0e}".split("e")
    return f"{mant}e{int(exp)}"


def loss_svg(history: list[dict[str, float]] | None, width: int = 380, height: int = 200) -> str:
    """Total, content and style loss against step as an inline SVG with labelled axes.

    The y axis is logarithmic when the values span more than a factor of 30, linear otherwise;
    dashed lines mark where coarse-to-fine moves to the next scale.
    """
    series = {"total": "#222", "content": "#1f77b4", "style": "#d62728"}
    points = [h for h in history or [] if "step" in h and any(k in h for k in series)]
    if not points:
        return '<p class="nocurve">no loss history</p>'
    values = [float(h[k]) for h in points for k in series if isinstance(h.get(k), (int, float))]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return '<p class="nocurve">no finite losses</p>'
    lo_v, hi_v = min(values), max(values)
    log = lo_v > 0 and hi_v / lo_v > 30
    if log:
        lo, hi = math.floor(math.log10(lo_v)), math.ceil(math.log10(hi_v))
        hi = hi if hi > lo else lo + 1
        yticks = [10.0**k for k in range(lo, hi + 1)]
        if len(yticks) > 7:
            yticks = yticks[:: math.ceil(len(yticks) / 6)]

        def ty(v: float) -> float:
            return (math.log10(max(v, 10.0**lo)) - lo) / (hi - lo)
    else:
        step = _nice_step(hi_v - lo_v if hi_v > lo_v else abs(hi_v) or 1.0)
        lo, hi = math.floor(lo_v / step) * step, math.ceil(hi_v / step) * step
        hi = hi if hi > lo else lo + step
        yticks = [lo + i * step for i in range(round((hi - lo) / step) + 1)]

        def ty(v: float) -> float:
            return (v - lo) / (hi - lo)

    s0, s1 = min(h["step"] for h in points), max(h["step"] for h in points)
    x0 = min(0.0, s0)  # steps count from 0
    xstep = _nice_step(s1 - x0 if s1 > x0 else 1.0)
    x1 = max(math.ceil(s1 / xstep) * xstep, x0 + xstep)
    xticks = [x0 + i * xstep for i in range(round((x1 - x0) / xstep) + 1)]
    ml, mr, mt, mb = 50, 10, 20, 34  # margins: tick labels left and below, legend on top
    pw, ph = width - ml - mr, height - mt - mb

    def X(s: float) -> float:
        return ml + (s - x0) / (x1 - x0) * pw

    def Y(v: float) -> float:
        return mt + ph - ty(v) * ph

    out = [
        f'<svg class="curve" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="loss against step" font-size="10" '
        f'font-family="sans-serif"><rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="#fbfbfb" '
        f'stroke="#bbb"/>'
    ]
    for v in yticks:
        y = Y(v)
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{ml - 4}" y="{y + 3:.1f}" text-anchor="end" fill="#555">{_fmt(v)}</text>')
    for s in xticks:
        x = X(s)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{mt + ph}" y2="{mt + ph + 4}" stroke="#888"/>')
        out.append(f'<text x="{x:.1f}" y="{mt + ph + 14}" text-anchor="middle" fill="#555">{_fmt(s)}</text>')
    for prev, cur in zip(points, points[1:], strict=False):  # coarse-to-fine: a new scale starts here
        if cur.get("scale") is not None and prev.get("scale") is not None and cur["scale"] != prev["scale"]:
            x = X((prev["step"] + cur["step"]) / 2)
            out.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{mt}" y2="{mt + ph}" stroke="#999" '
                f'stroke-dasharray="3,3"/><text x="{x + 3:.1f}" y="{mt + 10}" fill="#777">'
                f"scale {int(cur['scale']) + 1}</text>"
            )
    for i, (key, colour) in enumerate(series.items()):
        pts = [(X(h["step"]), Y(float(h[key]))) for h in points if isinstance(h.get(key), (int, float))]
        pts = [(x, y) for x, y in pts if math.isfinite(y)]
        if not pts:
            continue
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        out.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{coords}">'
            f"<title>{key}</title></polyline>"
        )
        if len(pts) == 1:
            out.append(f'<circle cx="{pts[0][0]:.1f}" cy="{pts[0][1]:.1f}" r="3" fill="{colour}"/>')
        out.append(f'<text x="{ml + 4 + 58 * i}" y="13" fill="{colour}">&#9644; {key}</text>')
    out.append(
        f'<text x="{ml + pw / 2:.1f}" y="{height - 4}" text-anchor="middle" fill="#333">step</text>'
        f'<text transform="translate(11 {mt + ph / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'fill="#333">loss{" (log)" if log else ""}</text></svg>'
    )
    return "".join(out)


# -- the contact sheet -------------------------------------------------------------------------


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType: scalable
    except (TypeError, OSError):
        return ImageFont.load_default()


def _fit(img: Image.Image, w: int, h: int) -> Image.Image:
    """Scaled (up or down, aspect kept) to fill a w x h box."""
    scale = min(w / img.width, h / img.height)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img if size == img.size else img.resize(size, Image.Resampling.LANCZOS)


def _sheet_jobs(data: _Run) -> list[dict[str, Any]]:
    failed = [j for j in data.failed if j["kind"] != "video"][:SHEET_MAX_FAILED]
    done = [j for j in data.done if j["kind"] == "image"]
    return failed + done[: SHEET_MAX_ROWS - len(failed)]


def contact_sheet(data: _Run) -> Path | None:
    """contact_sheet.jpg: column headers, then per job its name and content | style | result, the
    result filling its cell; failures first, with their message in the result's place."""
    rows = _sheet_jobs(data)
    if not rows:
        return None
    pad, band, head = SHEET_PAD, SHEET_BAND, SHEET_HEAD
    widths = (THUMB, THUMB, SHEET_RESULT)
    xs = [pad + sum(widths[:i]) + i * pad for i in range(3)]
    width = xs[2] + SHEET_RESULT + pad
    font, bold = _font(13), _font(15)
    laid = []
    for job in rows:
        result = data.run_dir / job["output"] if job["status"] == "done" and job["output"] else None
        tiles = [
            _open_small(job["content"], 2 * SHEET_RESULT),
            _open_small((job["styles"] or [None])[0], 2 * THUMB),
            _open_small(result, 2 * SHEET_RESULT),
        ]
        if result is not None:  # the result fills its cell: its aspect sets the row's height
            w, h = (tiles[2] or tiles[0] or (None, (4, 3)))[1]
            h = max(THUMB // 2, min(SHEET_RESULT, round(SHEET_RESULT * h / w)))
        else:  # a failure: room for the inputs (if any) and the message
            h = THUMB if job["content"] else 64
        laid.append((job, tiles, h))
    finished = data.info["failed"] + data.info["done"]
    more = max(0, finished - len(rows))
    height = head + sum(band + h + pad for _, _, h in laid) + (band if more else 0) + pad
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    title = f"{data.run_dir.resolve().name}: {data.info['done']} done, {data.info['failed']} failed"
    draw.text((pad, 6), title, fill=(0, 0, 0), font=bold)
    for x, w, label in zip(xs, widths, ("content", "style", "result"), strict=True):
        draw.text((x + w / 2, head - 6), label, fill=(90, 90, 90), font=bold, anchor="ms")
    y = head
    for job, tiles, h in laid:
        failed = job["status"] != "done"
        styles = job["styles"] or []
        blend = f"  (style: {' + '.join(Path(x).name for x in styles)})" if len(styles) > 1 else ""
        name = job_name(job) + blend + ("  FAILED" if failed else "")
        draw.text(
            (pad, y + 3),
            _clip(name, width - 2 * pad, font),
            fill=(170, 0, 0) if failed else (0, 0, 0),
            font=font,
        )
        y += band
        for k, (x, w) in enumerate(zip(xs, widths, strict=True)):
            draw.rectangle((x, y, x + w - 1, y + h - 1), fill=(240, 240, 240))
            tile = tiles[k]
            if tile is not None:
                img = _fit(tile[0], w, h)
                sheet.paste(img, (x + (w - img.width) // 2, y + (h - img.height) // 2))
            elif k < 2 and (job["content"] if k == 0 else job["styles"]):
                draw.text((x + 6, y + h // 2), "unreadable", fill=(160, 0, 0), font=font)
        if failed:
            lines = textwrap.wrap(job["error"] or "failed", width=max(20, SHEET_RESULT // 7))[: h // 16]
            draw.multiline_text((xs[2] + 6, y + 6), "\n".join(lines), fill=(170, 0, 0), font=font, spacing=3)
        y += h + pad
    if more:
        draw.text(
            (pad, y),
            f"... and {more} more of {finished} finished jobs: see {HTML_NAME} and {CSV_NAME}",
            fill=(90, 90, 90),
            font=font,
        )
    buf = io.BytesIO()
    sheet.save(buf, "JPEG", quality=88)
    return images.atomic_write(data.run_dir / SHEET_NAME, buf.getvalue())


def _clip(text: str, width: int, font: ImageFont.ImageFont) -> str:
    while text and font.getlength(text) > width:
        text = text[:-4] + "..."
    return text


# -- report.html -------------------------------------------------------------------------------

_PARAM_KEYS = (
    "pipeline",
    "size",
    "steps",
    "coarse_steps",
    "scales",
    "style_weight",
    "content_weight",
    "optimizer",
    "init",
    "seed",
    "color",
    "weights",
)

_CSS = """
*{box-sizing:border-box} body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;background:#f4f4f2}
header{background:#fff;border-bottom:1px solid #ddd;padding:14px 24px 0}
h1{font-size:20px;margin:0 0 4px} h1 .path{font-weight:normal;color:#666;font-size:14px;margin-left:8px}
.counts span{display:inline-block;margin-right:10px} .counts b{font-size:16px}
.c-done b{color:#1a7f37} .c-failed b{color:#b3261e} .c-todo b{color:#8a6d00}
.banner{background:#fff4c4;border:1px solid #e0c55a;padding:8px 12px;margin:8px 0;border-radius:6px}
.banner.cpu{background:#eef4ff;border-color:#9db7e8}
.devices{margin:6px 0;color:#444} .devices b{color:#222} .cap{color:#555;margin:4px 0}
.filters{display:flex;gap:6px;align-items:center;flex-wrap:wrap;position:sticky;top:0;z-index:2;background:#fff;padding:8px 0 10px}
.filters button{font:inherit;border:1px solid #bbb;background:#fff;border-radius:14px;padding:2px 12px;cursor:pointer}
.filters button.on{background:#222;color:#fff;border-color:#222} .filters select{font:inherit;padding:2px 4px}
#shown{color:#777;margin-left:8px}
main{padding:8px 24px 40px} h2{font-size:17px;margin:22px 0 10px}
.job{display:flex;flex-wrap:wrap;gap:18px;background:#fff;border:1px solid #ddd;border-radius:8px;padding:14px;margin:0 0 14px}
.job[hidden],section[hidden]{display:none}
.job.failed{border-left:5px solid #b3261e} .job.done{border-left:5px solid #1a7f37} .job.todo{border-left:5px solid #c9a400}
.imgs{display:flex;gap:10px;align-items:flex-start}
figure{margin:0;text-align:center;color:#666;font-size:12px}
figure img,figure video{display:block;margin:0 auto;border-radius:4px}
figure.small{width:180px} figure.small a+a img,figure.small a+div{margin-top:6px}
figure.large{max-width:440px} figure.large video{width:440px;max-height:440px;background:#e9e9e6}
figure.large img{cursor:zoom-in;image-rendering:auto} figcaption{margin-top:4px;overflow-wrap:anywhere}
.missing{width:180px;height:180px;display:flex;align-items:center;justify-content:center;background:#eee;color:#b3261e;border-radius:4px}
.errbox{width:440px;min-height:120px;background:#fdecea;border:1px solid #f1b5ae;border-radius:6px;padding:12px;color:#8c1d18;overflow-wrap:anywhere}
.errbox b{display:block;margin-bottom:6px;font-size:15px}
.info{flex:1;min-width:320px} .info h3{margin:0 0 4px;font-size:16px;overflow-wrap:anywhere}
.info h3 a{color:inherit} .meta,.losses{margin:2px 0;color:#444} .device{font-weight:600;color:#222}
.nocurve{color:#888;font-style:italic} details{margin-top:6px;color:#555} summary{cursor:pointer}
details code{font-size:12px;overflow-wrap:anywhere}
"""

_JS = """
(function(){
  var status = 'all', style = '';
  function apply(){
    var n = 0;
    document.querySelectorAll('.job').forEach(function(c){
      var ok = (status === 'all' || c.dataset.status === status) &&
               (!style || (' ' + c.dataset.styles + ' ').indexOf(' ' + style + ' ') >= 0);
      c.hidden = !ok; if (ok) n++;
    });
    document.querySelectorAll('main section').forEach(function(s){
      s.hidden = !s.querySelector('.job:not([hidden])');
    });
    document.getElementById('shown').textContent = n + ' shown';
  }
  document.querySelectorAll('.filters button').forEach(function(b){
    b.addEventListener('click', function(){
      status = b.dataset.status;
      document.querySelectorAll('.filters button').forEach(function(x){ x.classList.toggle('on', x === b); });
      apply();
    });
  });
  document.getElementById('style').addEventListener('change', function(e){ style = e.target.value; apply(); });
  var start = document.querySelector('.filters button[data-status="' + location.hash.slice(1) + '"]');
  if (start) start.click(); else apply();  // report.html#failed opens filtered
})();
"""


def _rel_url(rel: str) -> str:
    return quote(rel.replace(os.sep, "/"))


def _file_url(path: str | Path) -> str:
    try:
        return Path(path).resolve().as_uri()
    except ValueError:
        return ""


def _style_labels(paths: list[str]) -> dict[str, str]:
    """File name, or parent/name where two styles share a name."""
    names = [Path(p).name for p in paths]
    return {
        p: (str(Path(*Path(p).parts[-2:])) if names.count(Path(p).name) > 1 else Path(p).name) for p in paths
    }


def _small_figure(run_dir: Path, label: str, paths: list[str], weights: list[float] | None) -> str:
    esc = html.escape
    imgs, files = [], []
    for p in paths:
        src, size = _thumb_file(run_dir, p, SMALL_PX)
        files.append(Path(p).name + (f" · {size[0]}x{size[1]}" if size else ""))
        if src and size:
            w, h = _shown(size, SMALL_BOX)
            imgs.append(
                f'<a href="{esc(_file_url(p))}"><img src="{esc(_rel_url(src))}" width="{w}" height="{h}" '
                f'loading="lazy" alt="{label}" title="{esc(p)}"></a>'
            )
        else:
            reason = "missing" if not Path(p).exists() else "unreadable"
            imgs.append(f'<div class="missing" title="{esc(p)}">{reason}</div>')
    if weights and len(paths) > 1:
        files = [f"{f} ({w:g})" for f, w in zip(files, weights, strict=False)]
    caption = f"{label}<br>" + "<br>".join(esc(f) for f in files)
    return f'<figure class="small">{"".join(imgs)}<figcaption>{caption}</figcaption></figure>'


def _card(data: _Run, job: dict[str, Any], style_ids: dict[str, str]) -> str:
    esc = html.escape
    run_dir = data.run_dir
    state = job["status"] if job["status"] in ("done", "failed") else "todo"
    styles = job["styles"] or []
    figs = []
    if job["kind"] == "image":
        if job["content"]:
            figs.append(_small_figure(run_dir, "content", [job["content"]], None))
        if styles:
            figs.append(
                _small_figure(
                    run_dir, "style" if len(styles) == 1 else "styles", styles, job["style_weights"]
                )
            )
    elif job["kind"] == "video" and job["content"]:
        figs.append(
            f'<figure class="small"><div class="missing" style="color:#555">video</div><figcaption>content<br>'
            f'<a href="{esc(_file_url(job["content"]))}">{esc(Path(job["content"]).name)}</a></figcaption></figure>'
        )
    name = job_name(job)
    out_url = _rel_url(job["output"]) if job["output"] else ""
    if state == "done" and job["kind"] == "video":
        vreport = run_dir / "video" / job["id"] / "video_report.html"
        extra = (
            f' · <a href="{esc(_rel_url(os.path.relpath(vreport, run_dir)))}">video report</a>'
            if vreport.exists()
            else ""
        )
        figs.append(
            f'<figure class="large"><video src="{esc(out_url)}" controls preload="metadata"></video>'
            f"<figcaption>result{extra}</figcaption></figure>"
        )
    elif state == "done":
        src, size = _thumb_file(run_dir, run_dir / job["output"], LARGE_PX)
        if src and size:
            w, h = _shown(size, LARGE_BOX)
            img = f'<img src="{esc(_rel_url(src))}" width="{w}" height="{h}" alt="result" title="click for full size">'
        else:  # no size: the output cannot be read; no URL: the thumbnail could not be written
            what = "no thumbnail (the run directory is not writable)" if size else "result unreadable"
            img = f'<div class="missing" style="width:{LARGE_BOX}px;height:{LARGE_BOX // 2}px">{what}</div>'
        dims = f" · {size[0]}x{size[1]}" if size else ""
        figs.append(
            f'<figure class="large"><a href="{esc(out_url)}">{img}</a>'
            f"<figcaption>result{dims} · click for full size</figcaption></figure>"
        )
    elif state == "failed":
        figs.append(f'<div class="errbox"><b>failed</b>{esc(job["error"] or "no message recorded")}</div>')
    meta = []
    if state == "done":
        meta.append(f"done in {job['seconds']:.1f} s" if job.get("seconds") else "done")
    elif state == "failed":
        tries = job.get("attempts") or 0
        meta.append(
            "invalid manifest row"
            if job["kind"] == "invalid"
            else f"failed after {tries} attempt{'s' if tries != 1 else ''}"
        )
    else:
        meta.append(
            job["status"] + (f" on {job['worker']}" if job["status"] == "running" and job["worker"] else "")
        )
    if job.get("device"):
        meta.append(f'<span class="device">{esc(job["device"])}</span>')
    if job.get("worker") and state != "todo":
        meta.append(esc(job["worker"] + (f" on {job['node']}" if job.get("node") else "")))
    losses = job.get("losses") or {}
    loss_text = " · ".join(f"{k} {v:.4g}" for k, v in losses.items() if isinstance(v, (int, float)))
    params = job.get("params") or {}
    settings = ", ".join(f"{k}={params[k]}" for k in _PARAM_KEYS if k in params)
    source = f"{job['source']}, line {job['row']}" if job.get("source") and job.get("row") else ""
    title = f'<a href="{esc(out_url)}">{esc(name)}</a>' if state == "done" and out_url else esc(name)
    info = [f"<h3>{title}</h3>", f'<p class="meta">{" · ".join(meta)}</p>']
    if loss_text:
        info.append(f'<p class="losses">final loss: {esc(loss_text)}</p>')
    if state == "done" and job["kind"] == "image":
        info.append(loss_svg(job.get("history")))
    if settings or source:
        info.append(
            f"<details><summary>settings</summary><code>{esc(settings)}</code>"
            + (f"<br>from {esc(source)}" if source else "")
            + "</details>"
        )
    ids = " ".join(style_ids[s] for s in styles if s in style_ids)
    return (
        f'<article class="job {state}" data-status="{state}" data-styles="{ids}">'
        f'<div class="imgs">{"".join(figs)}</div><div class="info">{"".join(info)}</div></article>'
    )


def html_report(data: _Run) -> Path:
    """report.html: summary, banners, device, filters; failures first, then results, then to do."""
    esc = html.escape
    info = data.info
    todo_n = info["pending"] + info["running"]
    counts = (
        f'<span class="c-done"><b>{info["done"]:,}</b> done</span>'
        f'<span class="c-failed"><b>{info["failed"]:,}</b> failed</span>'
        + (f'<span class="c-todo"><b>{todo_n:,}</b> to do</span>' if todo_n else "")
        + f"<span>of <b>{info['total']:,}</b> jobs</span>"
        + (f"<span>{info['images_per_hour']:,} images/hour</span>" if info["images_per_hour"] else "")
        + f"<span>report written {time.strftime('%Y-%m-%d %H:%M', time.localtime())}</span>"
    )
    banners = []
    if data.random_jobs:
        of = (
            ""
            if data.random_jobs == data.valid_jobs
            else f" ({data.random_jobs:,} of {data.valid_jobs:,} jobs)"
        )
        banners.append(
            f'<div class="banner"><b>Random VGG-19 weights</b>{of}: these results come from a randomly '
            "initialised network (<code>--weights random</code>), a smoke test with texture-like output, "
            "not real style transfer. For real results use the ImageNet weights "
            "(<code>stylebatch weights download</code>).</div>"
        )
    for device in data.devices:
        note = metadata.cpu_fallback_note(data.requested_device, device)
        if note:
            banners.append(f'<div class="banner cpu">{esc(note)}</div>')
            break
    device_lines = []
    for device, workers in data.devices.items():
        jobs = sum(n for _, n in workers)
        names = ", ".join(f"{w}: {n:,}" for w, n in workers[:6]) + (
            f", and {len(workers) - 6} more workers" if len(workers) > 6 else ""
        )
        device_lines.append(f"<b>{esc(device)}</b>: {jobs:,} job{'s' if jobs != 1 else ''} ({esc(names)})")
    devices = f'<p class="devices">Ran on {"; ".join(device_lines)}</p>' if device_lines else ""
    caps = []
    if info["failed"] > len(data.failed):
        caps.append(f"the first {len(data.failed):,} of {info['failed']:,} failures")
    if info["done"] > len(data.done):
        caps.append(f"the first {len(data.done):,} of {info['done']:,} results")
    if todo_n > len(data.todo):
        caps.append(f"{len(data.todo):,} of {todo_n:,} jobs to do")
    cap = (
        f'<p class="cap">This page shows {", ".join(caps)}; every job is listed in '
        f'<a href="{CSV_NAME}">{CSV_NAME}</a>.</p>'
        if caps
        else f'<p class="cap">Every job is also listed in <a href="{CSV_NAME}">{CSV_NAME}</a>.</p>'
    )
    styles = sorted(data.style_counts)
    style_ids = {s: f"s{i}" for i, s in enumerate(styles)}
    labels = _style_labels(styles)
    options = "".join(
        f'<option value="{style_ids[s]}" title="{esc(s)}">{esc(labels[s])} ({data.style_counts[s]:,})</option>'
        for s in styles
    )
    buttons = [
        ("all", f"all {info['total']:,}"),
        ("failed", f"failed {info['failed']:,}"),
        ("done", f"done {info['done']:,}"),
    ]
    if todo_n:
        buttons.append(("todo", f"to do {todo_n:,}"))
    filters = (
        '<nav class="filters">Show: '
        + "".join(
            f'<button type="button" data-status="{k}"{" class=on" if k == "all" else ""}>{t}</button>'
            for k, t in buttons
        )
        + f' &nbsp;Style: <select id="style"><option value="">every style</option>{options}</select>'
        + '<span id="shown"></span></nav>'
    )
    sections = []
    for key, title, jobs, total in (
        ("failed", "Failed", data.failed, info["failed"]),
        ("results", "Results", data.done, info["done"]),
        ("todo", "To do", data.todo, todo_n),
    ):
        if jobs:
            cards = "".join(_card(data, j, style_ids) for j in jobs)
            shown = f"{total:,}" if total == len(jobs) else f"first {len(jobs):,} of {total:,}"
            sections.append(f'<section id="{key}"><h2>{title} ({shown})</h2>{cards}</section>')
    if not sections:
        sections.append("<p>No jobs in this run yet.</p>")
    where = str(data.run_dir.resolve())
    page = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>stylebatch report: {esc(data.run_dir.resolve().name)}</title><style>{_CSS}</style></head>\n"
        f'<body><header><h1>stylebatch run<span class="path">{esc(where)}</span></h1>'
        f'<div class="counts">{counts}</div>{"".join(banners)}{devices}{cap}{filters}</header>\n'
        f"<main>{''.join(sections)}</main>\n<script>{_JS}</script></body></html>\n"
    )
    return images.atomic_write(data.run_dir / HTML_NAME, page.encode())


def write_report(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Write jobs.csv, contact_sheet.jpg and report.html; returns the status dict plus their paths.

    A thumbnail that cannot be written is left out; a page that cannot be written (disk full,
    read-only) raises the OSError for the caller to report in one line.
    """
    run_dir = Path(run_dir)
    ledger = Ledger(run_dir, readonly=True)  # opened once: opening checks the whole file
    try:
        info = _status(ledger, run_dir)
        data, table_bytes = _gather(ledger, run_dir, info)
    finally:
        ledger.close()
    table = images.atomic_write(run_dir / CSV_NAME, table_bytes)
    sheet = contact_sheet(data)
    page = html_report(data)
    devices = {d: sum(n for _, n in workers) for d, workers in data.devices.items()}
    return {
        **info,
        "devices": devices,
        "contact_sheet": str(sheet) if sheet else None,
        "html": str(page),
        "jobs_csv": str(table),
    }
