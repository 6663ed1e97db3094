"""report.html: the summary, banners, devices, filters, then the job cards (failures first)."""

from __future__ import annotations

import time
from html import escape as esc
from pathlib import Path
from typing import Any

from ... import images, metadata
from ...htmlpage import page
from .cards import card
from .gather import RunData
from .layout import CSV_NAME, HTML_NAME

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


def _style_labels(paths: list[str]) -> dict[str, str]:
    """File name, or parent/name where two styles share a name."""
    names = [Path(p).name for p in paths]
    return {
        p: (str(Path(*Path(p).parts[-2:])) if names.count(Path(p).name) > 1 else Path(p).name) for p in paths
    }


def _counts(info: dict[str, Any], todo_n: int) -> str:
    return (
        f'<span class="c-done"><b>{info["done"]:,}</b> done</span>'
        f'<span class="c-failed"><b>{info["failed"]:,}</b> failed</span>'
        + (f'<span class="c-todo"><b>{todo_n:,}</b> to do</span>' if todo_n else "")
        + f"<span>of <b>{info['total']:,}</b> jobs</span>"
        + (f"<span>{info['images_per_hour']:,} images/hour</span>" if info["images_per_hour"] else "")
        + f"<span>report written {time.strftime('%Y-%m-%d %H:%M', time.localtime())}</span>"
    )


def _banners(data: RunData) -> str:
    """Random weights (a smoke test, not real style transfer); `--device auto` that found no GPU."""
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
    return "".join(banners)


def _devices(data: RunData) -> str:
    lines = []
    for device, workers in data.devices.items():
        jobs = sum(n for _, n in workers)
        names = ", ".join(f"{w}: {n:,}" for w, n in workers[:6]) + (
            f", and {len(workers) - 6} more workers" if len(workers) > 6 else ""
        )
        lines.append(f"<b>{esc(device)}</b>: {jobs:,} job{'s' if jobs != 1 else ''} ({esc(names)})")
    return f'<p class="devices">Ran on {"; ".join(lines)}</p>' if lines else ""


def _cap(data: RunData, todo_n: int) -> str:
    """Which jobs the page leaves out (to jobs.csv)."""
    info, caps = data.info, []
    if info["failed"] > len(data.failed):
        caps.append(f"the first {len(data.failed):,} of {info['failed']:,} failures")
    if info["done"] > len(data.done):
        caps.append(f"the first {len(data.done):,} of {info['done']:,} results")
    if todo_n > len(data.todo):
        caps.append(f"{len(data.todo):,} of {todo_n:,} jobs to do")
    if caps:
        return (
            f'<p class="cap">This page shows {", ".join(caps)}; every job is listed in '
            f'<a href="{CSV_NAME}">{CSV_NAME}</a>.</p>'
        )
    return f'<p class="cap">Every job is also listed in <a href="{CSV_NAME}">{CSV_NAME}</a>.</p>'


def _filters(data: RunData, style_ids: dict[str, str], todo_n: int) -> str:
    """Buttons by status and a menu of styles (with their job counts)."""
    info = data.info
    labels = _style_labels(list(style_ids))
    options = "".join(
        f'<option value="{i}" title="{esc(s)}">{esc(labels[s])} ({data.style_counts[s]:,})</option>'
        for s, i in style_ids.items()
    )
    buttons = [
        ("all", f"all {info['total']:,}"),
        ("failed", f"failed {info['failed']:,}"),
        ("done", f"done {info['done']:,}"),
    ]
    if todo_n:
        buttons.append(("todo", f"to do {todo_n:,}"))
    return (
        '<nav class="filters">Show: '
        + "".join(
            f'<button type="button" data-status="{k}"{" class=on" if k == "all" else ""}>{t}</button>'
            for k, t in buttons
        )
        + f' &nbsp;Style: <select id="style"><option value="">every style</option>{options}</select>'
        + '<span id="shown"></span></nav>'
    )


def _sections(data: RunData, style_ids: dict[str, str], todo_n: int) -> str:
    info, sections = data.info, []
    for key, title, jobs, total in (
        ("failed", "Failed", data.failed, info["failed"]),
        ("results", "Results", data.done, info["done"]),
        ("todo", "To do", data.todo, todo_n),
    ):
        if jobs:
            cards = "".join(card(data, j, style_ids) for j in jobs)
            shown = f"{total:,}" if total == len(jobs) else f"first {len(jobs):,} of {total:,}"
            sections.append(f'<section id="{key}"><h2>{title} ({shown})</h2>{cards}</section>')
    return "".join(sections) or "<p>No jobs in this run yet.</p>"


def html_report(data: RunData) -> Path:
    """report.html: summary, banners, device, filters; failures first, then results, then to do."""
    info = data.info
    todo_n = info["pending"] + info["running"]
    style_ids = {s: f"s{i}" for i, s in enumerate(sorted(data.style_counts))}
    where = data.run_dir.resolve()
    header = (
        f'<header><h1>stylebatch run<span class="path">{esc(str(where))}</span></h1>'
        f'<div class="counts">{_counts(info, todo_n)}</div>{_banners(data)}{_devices(data)}'
        f"{_cap(data, todo_n)}{_filters(data, style_ids, todo_n)}</header>"
    )
    body = f"{header}\n<main>{_sections(data, style_ids, todo_n)}</main>\n<script>{_JS}</script>"
    text = page(f"stylebatch report: {where.name}", _CSS, body)
    return images.atomic_write(data.run_dir / HTML_NAME, text.encode())
