"""Batch runs end to end on the session's Ray: resume, style cache, failures, worker deaths,
folder mode, the run lock and the video hook. Tiny images, random weights, 3 steps."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stylebatch.batch import imagerun, scheduler
from stylebatch.batch import pool as workerpool
from stylebatch.batch.ledger import Ledger, RunLock
from stylebatch.cli import app

from .conftest import synthetic_photo, synthetic_style

FAST = [
    "--weights", "random", "--size", "32", "--steps", "3", "--set", "coarse_steps=2",
    "--set", "scales=1", "--device", "cpu", "--workers", "1", "--quiet",
]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def pool(ray_session):
    """The worker actors are reused by every run of this module, then released."""
    yield ray_session
    scheduler.release_workers()


def invoke(*args: str):
    return CliRunner().invoke(app, [*map(str, args), *FAST])


def images(folder: Path, *names: str, style: str = "s.png") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        synthetic_photo(40, 32, seed=i).save(folder / name, format="PNG")
    synthetic_style(32).save(folder / style)


def ledger_rows(run: Path) -> dict[str, dict]:
    ledger = Ledger(run, readonly=True)
    try:
        return {r["output"] or r["id"]: r for r in ledger.jobs()}
    finally:
        ledger.close()


def last_run(run: Path) -> dict:
    ledger = Ledger(run, readonly=True)
    try:
        return ledger.last_run()
    finally:
        ledger.close()


def grams_computed() -> int:
    return sum(s["grams_computed"] for s in scheduler.worker_stats().values())


def test_run_resume_redo_and_style_cache(tmp_path: Path) -> None:
    images(tmp_path, "a.png", "b.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text("content,style,steps\na.png,s.png,\nb.png,s.png,\n")
    out = tmp_path / "out"
    before = grams_computed()
    result = invoke("run", manifest, "--out", out)
    assert result.exit_code == 0, result.output
    assert grams_computed() - before == 1  # one style, one worker: its Grams are computed once
    rows = ledger_rows(out)
    assert set(rows) == {"a__s.png", "b__s.png"}
    assert all(r["status"] == "done" and r["attempts"] == 1 and r["history"] for r in rows.values())
    sidecar = json.loads((out / "a__s.png.json").read_text())
    assert sidecar["job_id"] == rows["a__s.png"]["id"] and sidecar["manifest_row"]["line"] == 2
    assert sidecar["random_weights"] is True
    assert last_run(out)["started_jobs"] == 2

    result = invoke("run", manifest, "--out", out)  # resume: nothing to do
    assert result.exit_code == 0, result.output
    assert last_run(out)["started_jobs"] == 0
    assert all(r["attempts"] == 1 for r in ledger_rows(out).values())

    manifest.write_text("content,style,steps\na.png,s.png,\nb.png,s.png,2\n")  # b's settings change
    assert invoke("run", manifest, "--out", out).exit_code == 0
    assert last_run(out)["started_jobs"] == 1
    assert ledger_rows(out)["b__s.png"]["params"]["steps"] == 2

    (out / "a__s.png").unlink()  # a lost output is redone
    assert invoke("run", manifest, "--out", out).exit_code == 0
    assert last_run(out)["started_jobs"] == 1 and (out / "a__s.png").exists()

    status = CliRunner().invoke(app, ["status", str(out), "--json"])
    info = json.loads(status.stdout)
    assert (info["total"], info["done"], info["failed"]) == (2, 2, 0)


def test_failed_jobs_are_isolated_and_reported(tmp_path: Path) -> None:
    images(tmp_path, "good.png")
    (tmp_path / "bad.png").write_text("this is not a picture")
    manifest = tmp_path / "m.csv"
    manifest.write_text("content,style\ngood.png,s.png\nbad.png,s.png\nmissing.png,s.png\n")
    out = tmp_path / "out"
    refused = invoke("run", manifest, "--out", out)
    assert refused.exit_code == 2 and "line 4, content: file not found" in refused.output
    assert not out.exists()  # validation comes before any work

    result = invoke("run", manifest, "--out", out, "--skip-invalid")
    assert result.exit_code == 1, result.output
    assert (out / "good__s.png").exists() and not (out / "bad__s.png").exists()
    info = json.loads(CliRunner().invoke(app, ["status", str(out), "--json"]).stdout)
    assert (info["done"], info["failed"]) == (1, 2)
    errors = " | ".join(f["error"] for f in info["failures"])
    assert "not an image" in errors and "invalid row: content: file not found" in errors

    assert (out / "contact_sheet.jpg").stat().st_size > 0
    page = (out / "report.html").read_text()
    assert "<svg" in page and "<polyline" in page and "not an image" in page
    again = CliRunner().invoke(app, ["report", str(out)])
    assert again.exit_code == 1 and "failed" in again.output

    # --no-retry-failed leaves the failed job alone; a plain rerun retries it
    assert invoke("run", manifest, "--out", out, "--skip-invalid", "--no-retry-failed").exit_code == 1
    assert last_run(out)["started_jobs"] == 0


def test_worker_death_requeues_then_gives_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, faults) -> None:
    images(tmp_path, "flaky.png", "doomed.png", "fine.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text("content,style\nflaky.png,s.png\ndoomed.png,s.png\nfine.png,s.png\n")
    faults(crash_once=["flaky"], crash_always=["doomed"])  # their workers exit mid-job
    monkeypatch.setattr(imagerun, "MAX_ATTEMPTS", 2)
    out = tmp_path / "out"
    result = invoke("run", manifest, "--out", out)
    assert result.exit_code == 1, result.output
    rows = ledger_rows(out)
    assert rows["flaky__s.png"]["status"] == "done" and rows["flaky__s.png"]["attempts"] == 2
    assert rows["doomed__s.png"]["status"] == "failed" and rows["doomed__s.png"]["attempts"] == 2
    assert "worker died 2 times" in rows["doomed__s.png"]["error"]
    assert rows["fine__s.png"]["status"] == "done" and rows["fine__s.png"]["attempts"] == 1


def test_folder_mode_mirrors_the_tree(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    images(photos / "sub", "deep.png", style="unused.png")
    synthetic_photo(40, 32, seed=9).save(photos / "top.jpg")
    (photos / "notes.jpg").write_text("not an image")
    synthetic_style(32, seed=1).save(tmp_path / "s1.png")
    synthetic_style(32, seed=2).save(tmp_path / "s2.png")
    out = photos / "styled"  # inside the input folder: never scanned itself
    args = ["folder", photos, "--style", tmp_path / "s1.png", "--style", tmp_path / "s2.png", "--out", out]
    (photos / "sub" / "unused.png").unlink()
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert made == ["sub/deep__s1.png", "sub/deep__s2.png", "top__s1.png", "top__s2.png"]
    assert invoke(*args).exit_code == 0 and last_run(out)["total"] == 4  # outputs not picked up


def test_second_run_on_a_locked_dir_is_refused(tmp_path: Path) -> None:
    images(tmp_path, "a.png")
    (tmp_path / "m.csv").write_text("content,style\na.png,s.png\n")
    with RunLock(tmp_path / "out"):
        result = invoke("run", tmp_path / "m.csv", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "another stylebatch run is using" in result.output


def test_video_rows_use_the_video_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images(tmp_path)
    (tmp_path / "clip.mp4").write_bytes(b"\x00fake video")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"content": "clip.mp4", "style": "s.png", "video.frame_steps": 2}\n')
    calls = []

    def fake_stylize_video(src, styles, out, cfg, *, run_dir, style_weights=None, workers=None, **kw):
        calls.append((Path(src).name, [Path(s).name for s in styles], cfg.video.frame_steps, run_dir))
        Path(out).write_bytes(b"video")
        return out

    fake = types.ModuleType("stylebatch.video")
    fake.stylize_video = fake_stylize_video
    monkeypatch.setitem(sys.modules, "stylebatch.video", fake)
    result = invoke("run", manifest, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert calls and calls[0][:3] == ("clip.mp4", ["s.png"], 2)
    assert (tmp_path / "out" / "clip__s.mp4").read_bytes() == b"video"
    assert ledger_rows(tmp_path / "out")["clip__s.mp4"]["status"] == "done"

    monkeypatch.setitem(sys.modules, "stylebatch.video", None)  # not importable: a clear failure
    result = invoke("run", manifest, "--out", tmp_path / "out2")
    assert result.exit_code == 1
    assert "video jobs need stylebatch.video" in ledger_rows(tmp_path / "out2")["clip__s.mp4"]["error"]


class Recorder(scheduler.Reporter):
    wants_progress = True

    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.finished_labels: list[tuple[str, bool]] = []

    def worker(self, name, info) -> None:
        if info:
            self.seen.append(info)

    def finished(self, label, ok, message="") -> None:
        self.finished_labels.append((label, ok))


def test_progress_is_polled_from_busy_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stylebatch.batch import manifest as mf
    from stylebatch.config import StyleConfig

    images(tmp_path, "a.png")
    monkeypatch.setattr(imagerun, "POLL_SECONDS", 0.05)
    cfg = StyleConfig(size=32, steps=15, scales=1, weights="random", device="cpu", progress_every=1)
    jobs = [mf.Job(tmp_path / "a.png", (tmp_path / "s.png",), "a.png")]
    recorder = Recorder()
    options = scheduler.RunOptions(workers=1)
    summary = scheduler.run_batch(
        tmp_path / "out", scheduler.prepare(jobs, cfg), options, cfg, reporter=recorder
    )
    assert summary.exit_code == 0 and summary.done == 1 and summary.per_hour > 0
    assert recorder.finished_labels == [("a.png x s.png", True)]
    assert recorder.seen and all(i["label"] == "a.png x s.png" for i in recorder.seen)
    assert max(i["step"] for i in recorder.seen) > 0 and any(i["total"] == 15 for i in recorder.seen)


def test_plain_log_lines_when_not_a_terminal(tmp_path: Path) -> None:
    images(tmp_path, "a.png")
    (tmp_path / "m.csv").write_text("content,style\na.png,s.png\n")
    result = CliRunner().invoke(
        app, ["run", str(tmp_path / "m.csv"), "--out", str(tmp_path / "o"), *FAST[:-1]]
    )
    assert result.exit_code == 0, result.output
    assert "[1/1] done a.png x s.png" in result.output and "report:" in result.output


def test_pool_size_from_cluster_resources() -> None:
    from stylebatch.config import StyleConfig
    from stylebatch.errors import ConfigError

    def fake(resources):
        return types.SimpleNamespace(cluster_resources=lambda: resources)

    cfg = StyleConfig()
    gpu = fake({"CPU": 16.0, "GPU": 2.0})
    assert workerpool.pool_size(gpu, scheduler.RunOptions(), cfg) == (2, 1.0, 1, None)
    assert workerpool.pool_size(gpu, scheduler.RunOptions(gpus_per_worker=0.5), cfg)[:2] == (4, 0.5)
    with pytest.raises(ConfigError, match="needs 3 GPUs"):
        workerpool.pool_size(gpu, scheduler.RunOptions(workers=3), cfg)
    assert workerpool.pool_size(gpu, scheduler.RunOptions(workers=3), cfg.replace(device="cpu")) == (
        3,
        0,
        1.0,
        5,
    )
    assert workerpool.pool_size(fake({"CPU": 2.0}), scheduler.RunOptions(workers=4), cfg) == (4, 0, 0.5, 1)


def test_hostile_inputs_fail_alone_with_clear_messages(tmp_path: Path) -> None:
    from .hostile import make_image_corpus

    cases = make_image_corpus(tmp_path / "in")
    synthetic_style(32).save(tmp_path / "s.png")
    rows = "".join(f'"in/{c.name}",s.png,{i}.png\n' for i, c in enumerate(cases))
    (tmp_path / "m.csv").write_text("content,style,output\n" + rows, encoding="utf-8")
    result = invoke("run", tmp_path / "m.csv", "--out", tmp_path / "out", "--skip-invalid")
    assert result.exit_code == 1, result.output
    ledger = Ledger(tmp_path / "out", readonly=True)
    by_line = {r["row"]: r for r in ledger.jobs()}
    ledger.close()
    for line, case in enumerate(cases, 2):
        row = by_line[line]
        if case.expect is None:
            assert row["status"] == "done", (case.name, row["error"])
            assert (tmp_path / "out" / row["output"]).exists()
        else:
            assert row["status"] == "failed" and case.expect in row["error"], (case.name, row["error"])
