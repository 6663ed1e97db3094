"""Reports and job-level failure messages, without Ray: SVG loss curves, status while a run
writes, the contact sheet, out-of-memory and bad-image messages from the worker's job function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from stylebatch import report, workers
from stylebatch.config import StyleConfig
from stylebatch.ledger import Entry, Ledger, RunLock, job_id
from stylebatch.manifest import Job

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
    entries = [Entry(job_id(j, StyleConfig(), "x")[0], j, StyleConfig()) for j in jobs]
    ledger = Ledger(run)
    ledger.sync(entries, [], True, run)
    ledger.start_run({}, {})
    synthetic_photo(seed=4).save(run / "a0.png")
    history = [{"step": 1, "total": 3.0, "content": 1.0, "style": 2.0}, {"step": 2, "total": 2.0}]
    ledger.mark_done(
        entries[0].id, {"worker": "w1", "seconds": 1.5, "losses": {"total": 2.0}, "history": history}
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


def job_dict(tmp_path: Path, **cfg) -> dict:
    settings = dict(size=32, steps=2, scales=1, weights="random", device="cpu") | cfg
    return {
        "id": "j1",
        "label": "a x s",
        "content": str(tmp_path / "a.png"),
        "styles": [str(tmp_path / "s.png")],
        "style_weights": None,
        "output": "a.png",
        "row": {"source": "m.csv", "line": 2},
        "cfg": StyleConfig(**settings),
    }


def test_run_job_reports_bad_input_and_oom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synthetic_style().save(tmp_path / "s.png")
    style = (tmp_path / "s.png").read_bytes()
    bad = workers.run_job(job_dict(tmp_path), b"GIF89a truncated", [style])
    assert "not an image" in bad["error"] or "corrupt" in bad["error"]

    def oom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(workers.api, "stylize", oom)
    buf = Path(tmp_path / "a.png")
    synthetic_photo().save(buf)
    result = workers.run_job(job_dict(tmp_path, size=48), buf.read_bytes(), [style])
    assert result["error"].startswith("out of memory at size 48 px")


def test_run_job_returns_encoded_image_and_sidecar(tmp_path: Path) -> None:
    synthetic_photo().save(tmp_path / "a.png")
    synthetic_style().save(tmp_path / "s.png")
    cache = workers.CountingCache()
    job = job_dict(tmp_path)
    first = workers.run_job(job, str(tmp_path / "a.png"), [str(tmp_path / "s.png")], cache)  # shared-fs paths
    again = workers.run_job(
        job, (tmp_path / "a.png").read_bytes(), [(tmp_path / "s.png").read_bytes()], cache
    )
    assert "error" not in first and first["data"][:8] == b"\x89PNG\r\n\x1a\n"
    assert first["sidecar"]["job_id"] == "j1" and first["sidecar"]["manifest_row"]["line"] == 2
    assert cache.computed == 1 and cache.hits >= 1 and again["data"] == first["data"]
