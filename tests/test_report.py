"""Reports and job-level failure messages, without Ray: SVG loss curves, status while a run
writes, the contact sheet, out-of-memory and bad-image messages from the worker's job function."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylebatch.batch import report, workers
from stylebatch.batch.jobs import JobResult, JobSpec, make_entry
from stylebatch.batch.ledger import Ledger, RunLock
from stylebatch.batch.manifest import Job
from stylebatch.config import StyleConfig

from .conftest import synthetic_photo, synthetic_style


def test_loss_svg_draws_each_loss() -> None:
    history = [{"step": s, "total": 10 / s, "content": 1 / s, "style": 9 / s} for s in range(1, 6)]
    svg = report.loss_svg(history)
    assert svg.startswith("<svg") and svg.count("<polyline") == 3
    assert "no loss history" in report.loss_svg([])


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    synthetic_photo().save(tmp_path / "a.png")
    synthetic_style().save(tmp_path / "s.png")
    run = tmp_path / "run"
    jobs = [Job(tmp_path / "a.png", (tmp_path / "s.png",), f"a{i}.png") for i in range(3)]
    entries = [make_entry(j, StyleConfig(), "x") for j in jobs]
    ledger = Ledger(run)
    ledger.sync(entries, [], True, run)
    ledger.start_run({}, {})
    synthetic_photo(seed=4).save(run / "a0.png")
    history = [{"step": 1, "total": 3.0, "content": 1.0, "style": 2.0}, {"step": 2, "total": 2.0}]
    ledger.mark_done(
        entries[0].id, JobResult(worker="w1", seconds=1.5, losses={"total": 2.0}, history=history)
    )
    ledger.mark_failed(entries[1].id, "a.png: not an image")
    ledger.mark_running(entries[2].id, "w1")
    ledger.db.execute("BEGIN IMMEDIATE")  # the driver is mid-transaction: readers still work (WAL)
    with RunLock(run):
        yield run
    ledger.db.rollback()
    ledger.close()


def test_status_and_report_while_running(run_dir: Path) -> None:
    info = report.status(run_dir)
    assert (info["total"], info["done"], info["failed"], info["running"]) == (3, 1, 1, 1)
    assert info["failures"] == [{"job": "a1.png", "error": "a.png: not an image"}]
    json.dumps(info)
    assert report.status(run_dir)["running_now"] is True
    out = report.write_report(run_dir)
    with Image.open(out["contact_sheet"]) as sheet:
        assert sheet.size[1] >= 3 * report.THUMB  # one row per job: content | style | result
        assert sheet.size[0] >= 3 * report.THUMB
    page = Path(out["html"]).read_text()
    assert len(list((run_dir / "thumbs").glob("*.jpg"))) == 3  # content and style shared, one result
    assert page.count("<svg") == 1 and "not an image" in page and 'src="thumbs/' in page


def job_dict(tmp_path: Path, **cfg) -> JobSpec:
    settings = dict(size=32, steps=2, scales=1, weights="random", device="cpu") | cfg
    return JobSpec(
        id="j1",
        label="a x s",
        content=str(tmp_path / "a.png"),
        styles=(str(tmp_path / "s.png"),),
        style_weights=None,
        output="a.png",
        row={"source": "m.csv", "line": 2},
        cfg=StyleConfig(**settings),
    )


def test_run_job_reports_bad_input_and_oom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synthetic_style().save(tmp_path / "s.png")
    style = (tmp_path / "s.png").read_bytes()
    bad = workers.run_job(job_dict(tmp_path), b"GIF89a truncated", [style])
    assert "not an image" in bad.error or "corrupt" in bad.error

    def oom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(workers.api, "stylize", oom)
    buf = Path(tmp_path / "a.png")
    synthetic_photo().save(buf)
    result = workers.run_job(job_dict(tmp_path, size=48), buf.read_bytes(), [style])
    assert result.error.startswith("out of memory at size 48 px")


def test_run_job_returns_encoded_image_and_sidecar(tmp_path: Path) -> None:
    synthetic_photo().save(tmp_path / "a.png")
    synthetic_style().save(tmp_path / "s.png")
    cache = workers.CountingCache()
    job = job_dict(tmp_path)
    first = workers.run_job(job, str(tmp_path / "a.png"), [str(tmp_path / "s.png")], cache)  # shared-fs paths
    again = workers.run_job(
        job, (tmp_path / "a.png").read_bytes(), [(tmp_path / "s.png").read_bytes()], cache
    )
    assert first.ok and first.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert first.sidecar["job_id"] == "j1" and first.sidecar["manifest_row"]["line"] == 2
    assert cache.computed == 1 and cache.hits >= 1 and again.data == first.data


# -- the gallery (issue 10) and the device (issue 12) ------------------------------------------


def make_gallery_run(
    tmp_path: Path, done: int = 2, failed: int = 1, pending: int = 1, invalid: bool = True
) -> Path:
    """A run directory as the driver leaves it: done jobs with outputs, sidecars and multi-scale
    loss histories, failures with messages, an invalid manifest row, jobs still to do."""
    from stylebatch import images
    from stylebatch.batch.manifest import RowError

    synthetic_photo().save(tmp_path / "a.png")
    synthetic_style().save(tmp_path / "s.png")
    synthetic_style(seed=3).save(tmp_path / "t.png")
    run = tmp_path / "run"
    cfg = StyleConfig(weights="random")
    n = done + failed + pending
    jobs = [
        Job(tmp_path / "a.png", (tmp_path / ("s.png" if i % 2 == 0 else "t.png"),), f"r{i:02d}.png", source=str(tmp_path / "m.csv"), row=i + 2)
        for i in range(n)
    ]  # fmt: skip
    entries = [make_entry(j, cfg, "random:0") for j in jobs]
    ledger = Ledger(run)
    bad = [RowError(str(tmp_path / "m.csv"), 40, "content", "missing (required)")] if invalid else []
    ledger.sync(entries, bad, True, run)
    ledger.start_run(cfg.to_dict(), {})
    history = [
        {"step": s, "scale": 0 if s <= 20 else 1, "total": 100.0 / s, "content": 1.0 / s, "style": 99.0 / s}
        for s in range(10, 60, 10)
    ]
    for i, e in enumerate(entries[:done]):
        result = np.asarray(synthetic_photo(64, 48, seed=10 + i))
        images.save_image(
            images.pil_to_tensor(Image.fromarray(result)), run / e.job.output,
            {"device": "cpu (3 threads)", "random_weights": True},
        )  # fmt: skip
        ledger.mark_done(
            e.id, JobResult(worker="w1", node="n1", seconds=2.0, losses={"total": 2.0}, history=history)
        )
    for e in entries[done : done + failed]:
        ledger.mark_failed(e.id, "a.png: corrupt or truncated image (test)", worker="w1", node="n1")
    ledger.close()
    return run


def test_report_is_a_gallery_failures_first(tmp_path: Path) -> None:
    run = make_gallery_run(tmp_path)
    out = report.write_report(run)
    page = Path(out["html"]).read_text()
    # failures (with their message) come before results; the invalid row is named by its line
    assert page.index('id="failed"') < page.index('id="results"') < page.index('id="todo"')
    failed = page[page.index('id="failed"') : page.index('id="results"')]
    assert "corrupt or truncated image (test)" in failed and "m.csv, line 40" in failed
    assert "invalid row: content: missing (required)" in failed
    # random weights: a banner; the device each job ran on; filters by status and by style
    assert "Random VGG-19 weights" in page and "cpu (3 threads)" in page
    assert out["devices"] == {"cpu (3 threads)": 2}
    for control in (
        'data-status="failed"',
        'data-status="done"',
        '<select id="style"',
        ">s.png (",
        ">t.png (",
    ):
        assert control in page
    # the result is shown large and links to the output file itself (relative, so it opens)
    assert '<a href="r00.png"><img src="thumbs/' in page and (run / "r00.png").is_file()
    for thumb in re.findall(r'src="(thumbs/[0-9a-f]+\.jpg)"', page):
        assert (run / thumb).is_file()
    large = re.search(r'<a href="r00.png"><img src="(thumbs/[0-9a-f]+\.jpg)" width="440" height="330"', page)
    large = large.group(1)  # the 64x48 result is shown 440 px wide
    with Image.open(run / large) as img:
        assert img.size == (64, 48)  # never upscaled on disk; the page shows it at 440 px
    # loss curves with axes: tick labels, axis names, the scale change marked
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert ">step</text>" in svg and "loss (log)" in svg and "scale 2" in svg
    assert ">0.01</text>" in svg and ">0.1</text>" in svg and ">10</text>" in svg  # 0.02 .. 10
    # every job, failures and invalid rows included, in jobs.csv
    rows = list(csv.DictReader(open(out["jobs_csv"], newline="")))
    assert len(rows) == 5 and {r["status"] for r in rows} == {"done", "failed", "pending"}
    assert any(r["name"] == "m.csv, line 40" for r in rows)


def test_report_caps_a_huge_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = make_gallery_run(tmp_path, done=7, failed=5, pending=0)
    monkeypatch.setattr(report.layout, "HTML_MAX_RESULTS", 3)
    monkeypatch.setattr(report.layout, "HTML_MAX_FAILED", 2)
    monkeypatch.setattr(report.layout, "SHEET_MAX_ROWS", 4)
    monkeypatch.setattr(report.layout, "SHEET_MAX_FAILED", 1)
    out = report.write_report(run)
    page = Path(out["html"]).read_text()
    assert page.count('class="job done"') == 3 and page.count('class="job failed"') == 2
    assert "the first 2 of 6 failures" in page and "the first 3 of 7 results" in page
    assert len(list((run / "thumbs").glob("*.jpg"))) == 3 + 3  # 3 results + a.png, s.png, t.png
    assert len(open(out["jobs_csv"]).read().splitlines()) == 1 + 13  # header + every job
    rows = 4  # one failure + 3 results, each a name band and at most a full result cell
    with Image.open(out["contact_sheet"]) as sheet:
        assert (
            sheet.height
            <= report.SHEET_HEAD + rows * (report.SHEET_BAND + report.SHEET_RESULT + report.SHEET_PAD) + 40
        )


def test_contact_sheet_is_labelled_and_results_fill_their_cells(tmp_path: Path) -> None:
    run = make_gallery_run(tmp_path, done=1, failed=0, pending=0, invalid=False)
    out = report.write_report(run)
    with Image.open(out["contact_sheet"]) as sheet:
        px = np.asarray(sheet.convert("L"), dtype=np.int16)
    pad, head, band = report.SHEET_PAD, report.SHEET_HEAD, report.SHEET_BAND
    x0 = pad + 2 * (report.THUMB + pad)  # the result column
    # column headers and the job's name are text (dark pixels) on white
    assert (px[: head - 2, x0 : x0 + report.SHEET_RESULT] < 128).sum() > 20
    assert (px[head : head + band, pad : pad + 200] < 128).sum() > 20
    # the 64x48 result fills its 320-px cell's width (4:3 -> 320x240), not a small thumbnail
    cell = px[head + band : head + band + 240, x0 : x0 + report.SHEET_RESULT]
    empty = np.abs(cell - 240) <= 2  # the cell's background
    assert empty.mean() < 0.1, empty.mean()


def test_loss_svg_axes_log_and_linear() -> None:
    wide = [
        {"step": s, "total": 1000.0 / s**2, "content": 1.0 / s, "style": 999.0 / s**2} for s in range(1, 50)
    ]
    svg = report.loss_svg(wide)
    assert "loss (log)" in svg and ">step</text>" in svg and svg.count("<polyline") == 3
    assert ">0.01</text>" in svg and ">1000</text>" in svg  # a tick per decade, 0.02 .. 1000
    narrow = [{"step": s, "total": 2.0 + s / 100} for s in range(0, 101, 10)]
    svg = report.loss_svg(narrow)
    assert "loss (log)" not in svg and ">loss</text>" in svg and ">100</text>" in svg  # last step tick
    assert "<circle" in report.loss_svg([{"step": 5, "total": 1.0}])  # one point still shows
    assert "no loss history" in report.loss_svg(None)


def test_thumbnails_refuse_bombs_and_follow_exif(tmp_path: Path) -> None:
    from .hostile import bomb_png

    (tmp_path / "bomb.png").write_bytes(bomb_png(60_000, 60_000))
    t0 = time.perf_counter()
    assert report.thumb_file(tmp_path, tmp_path / "bomb.png", report.LARGE_PX) == ("", None)
    assert time.perf_counter() - t0 < 2  # decoding it would take ~90 s and 10 GB
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: the 60x30 sensor image is 30x60 upright
    Image.new("RGB", (60, 30), "red").save(tmp_path / "rot.jpg", exif=exif)
    rel, size = report.thumb_file(tmp_path, tmp_path / "rot.jpg", report.SMALL_PX)
    assert size == (30, 60)
    with Image.open(tmp_path / rel) as thumb:
        assert thumb.size == (30, 60)
    assert report.thumb_file(tmp_path, tmp_path / "rot.jpg", report.SMALL_PX) == (rel, (30, 60))  # cached


def test_report_survives_an_unwritable_thumbnail_folder(tmp_path: Path) -> None:
    run = make_gallery_run(tmp_path, done=1, failed=0, pending=0)
    (run / report.THUMBS_DIR).write_text("a file where the folder would go")  # every thumbnail write fails
    out = report.write_report(run)
    page = Path(out["html"]).read_text()
    assert '<a href="r00.png">' in page and "no thumbnail" in page  # the page is written all the same


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_filters_work_in_a_browser(tmp_path: Path) -> None:
    run = make_gallery_run(tmp_path)
    page = Path(report.write_report(run)["html"])
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri() + "#failed"],
        capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    cards = re.findall(r'<article class="job (\w+)"[^>]*?( hidden="")?>', dom)
    assert cards and all(bool(hidden) == (state != "failed") for state, hidden in cards), cards
    assert "2 shown" in dom  # the failure and the invalid row


def test_video_rows_play_in_the_page(tmp_path: Path) -> None:
    synthetic_style().save(tmp_path / "s.png")
    (tmp_path / "clip.mp4").write_bytes(b"not decoded by the report")
    run = tmp_path / "run"
    job = Job(tmp_path / "clip.mp4", (tmp_path / "s.png",), "clip__s.mp4")
    entry = make_entry(job, StyleConfig(), "x")
    ledger = Ledger(run)
    ledger.sync([entry], [], True, run)
    ledger.start_run({}, {})
    (run / "clip__s.mp4").write_bytes(b"\x00" * 64)
    ledger.mark_done(entry.id, JobResult(worker="driver", seconds=3.0))
    ledger.close()
    out = report.write_report(run)
    page = Path(out["html"]).read_text()
    assert '<video src="clip__s.mp4" controls' in page and "unreadable" not in page
    assert out["contact_sheet"] is None  # the sheet holds image jobs only
