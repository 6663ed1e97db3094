"""report.html's job cards: the inputs small, the result large (or the error), the loss curve
and the job's settings."""

from __future__ import annotations

import functools
import os
from html import escape as esc
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .gather import RunData, job_name
from .layout import LARGE_BOX, LARGE_PX, SMALL_BOX, SMALL_PX
from .svg import loss_svg
from .thumbs import shown_size, thumb_file

# the settings a card shows: the run's shape, then the loss terms' weights (from the engine's
# registry, so a new term shows up here), then how it was started
_SHAPE_KEYS = ("pipeline", "size", "steps", "coarse_steps", "scales")
_START_KEYS = ("optimizer", "init", "seed", "color", "weights")


@functools.cache
def _param_keys() -> tuple[str, ...]:
    from ...engine.terms import weight_keys  # late: the engine imports torch

    return (*_SHAPE_KEYS, *weight_keys(), *_START_KEYS)


def rel_url(rel: str) -> str:
    """A URL for a path relative to the run directory."""
    return quote(rel.replace(os.sep, "/"))


def _file_url(path: str | Path) -> str:
    try:
        return Path(path).resolve().as_uri()
    except ValueError:
        return ""


def _small_figure(run_dir: Path, label: str, paths: list[str], weights: list[float] | None) -> str:
    imgs, files = [], []
    for p in paths:
        src, size = thumb_file(run_dir, p, SMALL_PX)
        files.append(Path(p).name + (f" · {size[0]}x{size[1]}" if size else ""))
        if src and size:
            w, h = shown_size(size, SMALL_BOX)
            imgs.append(
                f'<a href="{esc(_file_url(p))}"><img src="{esc(rel_url(src))}" width="{w}" height="{h}" '
                f'loading="lazy" alt="{label}" title="{esc(p)}"></a>'
            )
        else:
            reason = "missing" if not Path(p).exists() else "unreadable"
            imgs.append(f'<div class="missing" title="{esc(p)}">{reason}</div>')
    if weights and len(paths) > 1:
        files = [f"{f} ({w:g})" for f, w in zip(files, weights, strict=False)]
    caption = f"{label}<br>" + "<br>".join(esc(f) for f in files)
    return f'<figure class="small">{"".join(imgs)}<figcaption>{caption}</figcaption></figure>'


def _input_figures(run_dir: Path, job: dict[str, Any]) -> list[str]:
    """The content and style thumbnails of an image job; a placeholder for a video's content."""
    styles = job["styles"] or []
    figs = []
    if job["kind"] == "image":
        if job["content"]:
            figs.append(_small_figure(run_dir, "content", [job["content"]], None))
        if styles:
            label = "style" if len(styles) == 1 else "styles"
            figs.append(_small_figure(run_dir, label, styles, job["style_weights"]))
    elif job["kind"] == "video" and job["content"]:
        figs.append(
            f'<figure class="small"><div class="missing" style="color:#555">video</div><figcaption>content<br>'
            f'<a href="{esc(_file_url(job["content"]))}">{esc(Path(job["content"]).name)}</a></figcaption></figure>'
        )
    return figs


def _result_figure(data: RunData, job: dict[str, Any], state: str, out_url: str) -> str:
    """A done video as a player, a done image as a large thumbnail, a failure as its message."""
    run_dir = data.run_dir
    if state == "done" and job["kind"] == "video":
        vreport = run_dir / "video" / job["id"] / "video_report.html"
        extra = (
            f' · <a href="{esc(rel_url(os.path.relpath(vreport, run_dir)))}">video report</a>'
            if vreport.exists()
            else ""
        )
        return (
            f'<figure class="large"><video src="{esc(out_url)}" controls preload="metadata"></video>'
            f"<figcaption>result{extra}</figcaption></figure>"
        )
    if state == "done":
        src, size = thumb_file(run_dir, data.outputs / job["output"], LARGE_PX)
        if src and size:
            w, h = shown_size(size, LARGE_BOX)
            img = f'<img src="{esc(rel_url(src))}" width="{w}" height="{h}" alt="result" title="click for full size">'
        else:  # no size: the output cannot be read; no URL: the thumbnail could not be written
            what = "no thumbnail (the run directory is not writable)" if size else "result unreadable"
            img = f'<div class="missing" style="width:{LARGE_BOX}px;height:{LARGE_BOX // 2}px">{what}</div>'
        dims = f" · {size[0]}x{size[1]}" if size else ""
        return (
            f'<figure class="large"><a href="{esc(out_url)}">{img}</a>'
            f"<figcaption>result{dims} · click for full size</figcaption></figure>"
        )
    if state == "failed":
        return f'<div class="errbox"><b>failed</b>{esc(job["error"] or "no message recorded")}</div>'
    return ""


def _meta(job: dict[str, Any], state: str) -> str:
    """How the job ended (or where it stands), its device and its worker."""
    if state == "done":
        meta = [f"done in {job['seconds']:.1f} s" if job.get("seconds") else "done"]
    elif state == "failed":
        tries = job.get("attempts") or 0
        invalid = job["kind"] == "invalid"
        meta = [
            "invalid manifest row" if invalid else f"failed after {tries} attempt{'s' if tries != 1 else ''}"
        ]
    else:
        running = job["status"] == "running" and job["worker"]
        meta = [job["status"] + (f" on {job['worker']}" if running else "")]
    if job.get("device"):
        meta.append(f'<span class="device">{esc(job["device"])}</span>')
    if job.get("worker") and state != "todo":
        meta.append(esc(job["worker"] + (f" on {job['node']}" if job.get("node") else "")))
    return " · ".join(meta)


def _info(job: dict[str, Any], state: str, out_url: str) -> str:
    """The card's text: name, status line, final losses, loss curve, settings."""
    losses = job.get("losses") or {}
    loss_text = " · ".join(f"{k} {v:.4g}" for k, v in losses.items() if isinstance(v, (int, float)))
    params = job.get("params") or {}
    settings = ", ".join(f"{k}={params[k]}" for k in _param_keys() if k in params)
    source = f"{job['source']}, line {job['row']}" if job.get("source") and job.get("row") else ""
    name = job_name(job)
    title = f'<a href="{esc(out_url)}">{esc(name)}</a>' if state == "done" and out_url else esc(name)
    info = [f"<h3>{title}</h3>", f'<p class="meta">{_meta(job, state)}</p>']
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
    return "".join(info)


def card(data: RunData, job: dict[str, Any], style_ids: dict[str, str]) -> str:
    """One job's <article>, tagged with its status and style ids for the page's filters."""
    state = job["status"] if job["status"] in ("done", "failed") else "todo"
    out_url = rel_url(job["output"]) if job["output"] else ""
    figs = _input_figures(data.run_dir, job) + [_result_figure(data, job, state, out_url)]
    ids = " ".join(style_ids[s] for s in job["styles"] or [] if s in style_ids)
    return (
        f'<article class="job {state}" data-status="{state}" data-styles="{ids}">'
        f'<div class="imgs">{"".join(figs)}</div><div class="info">{_info(job, state, out_url)}</div></article>'
    )
