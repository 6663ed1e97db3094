"""The streaming start of a batch run (issue #12): job ids as before, the first jobs dispatched
while later chunks are still registered, a run stopped mid-registration resumed with every job
exactly once, an input that vanishes before it is hashed failing alone, Ray warmed up early."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stylebatch.batch import intake, resume, scheduler
from stylebatch.batch import manifest as mf
from stylebatch.batch import pool as workerpool
from stylebatch.batch.jobs import job_id, job_params
from stylebatch.batch.ledger import Ledger
from stylebatch.batch.manifest import Job
from stylebatch.batch.options import Reporter
from stylebatch.cli import app
from stylebatch.config import StyleConfig

from .faultkit import image_manifest, tiny_image

CFG = StyleConfig(weights="random", size=32, steps=0, scales=1, device="cpu")


@pytest.fixture(scope="module")
def pool(ray_session):
    """One worker reused by the runs of this module (a stopped run replaces it), then released."""
    yield ray_session
    scheduler.release_workers()


def _old_job_id(job: Job, cfg: StyleConfig, weights_identity: str) -> str:
    """The job id as every earlier version computed it (ledgers and sidecars hold these)."""
    inputs = hashlib.sha256()
    for path in (job.content, *job.styles):
        inputs.update(hashlib.sha256(path.read_bytes()).hexdigest().encode())
    ident = {
        "inputs": inputs.hexdigest(),
        "style_weights": job.style_weights,
        "params": job_params(cfg),
        "weights": weights_identity,
        "output": job.output,
        "kind": job.kind,
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:20]


def test_job_ids_are_unchanged(tmp_path: Path) -> None:
    a, b = tiny_image(tmp_path / "a.png", 1), tiny_image(tmp_path / "b.png", 2)
    s = tiny_image(tmp_path / "s.png", 3)
    jobs = [
        Job(a, (s,), "a__s.png"),
        Job(b, (s, a), 'dir/ü "quoted".png', style_weights=(0.25, 0.75)),
        Job(a, (s,), "v__s.mp4", overrides=(("steps", 7),)),
        Job(tmp_path / "clip.mp4", (s,), "clip__s.mp4"),
    ]
    (tmp_path / "clip.mp4").write_bytes(b"not really a video")
    for job in jobs:
        for cfg, weights in ((CFG, "random:0"), (job.config(StyleConfig(style_weight=3e5)), "file:ab12")):
            assert job_id(job, cfg, weights)[0] == _old_job_id(job, cfg, weights)
    entries = scheduler.prepare(jobs, CFG)  # the bulk path: settings serialised once per config
    assert [e.id for e in entries] == [_old_job_id(j, j.config(CFG), "random:0") for j in jobs]


class _Events(Reporter):
    def __init__(self) -> None:
        self.failed: list[tuple[str, str]] = []

    def finished(self, label: str, ok: bool, message: str = "") -> None:
        if not ok:
            self.failed.append((label, message))


def test_an_input_gone_before_hashing_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(intake, "FIRST_CHUNK", 2)
    monkeypatch.setattr(intake, "CHUNK", 2)
    jobs = mf.parse(image_manifest(tmp_path / "in", 5), CFG).jobs
    jobs[3].content.unlink()  # after the check of the names, before its hash
    ids = intake.Identities(jobs, CFG)
    ledger, events = Ledger(tmp_path / "run"), _Events()
    try:
        stream = intake.Intake.start(ledger, tmp_path / "run", [], True, jobs, ids.made, events)
        taken = []
        while not stream.done:
            taken += stream.take(wait=True)
        rows = {r["row"]: r for r in ledger.jobs()}
    finally:
        ledger.close()
    assert [e.job.row for e in taken] == [2, 3, 4, 6]
    assert rows[5]["kind"] == "invalid" and rows[5]["status"] == "failed"
    assert rows[5]["error"].startswith("invalid row: input: cannot read ") and "c0003.png" in rows[5]["error"]
    assert [r["status"] for n, r in sorted(rows.items()) if n != 5] == ["pending"] * 4
    assert events.failed == [("c0003.png x style.png", rows[5]["error"].split(": ", 2)[2])]


def test_a_big_manifest_starts_the_workers_while_it_is_checked(
    pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("stylebatch.cli.batch.EARLY_START_BYTES", 0)
    started, seen = threading.Event(), []
    get_pool, load = workerpool.get_pool, mf.load

    def pool_started(*args):
        started.set()
        return get_pool(*args)

    def slow_load(*args, **kw):
        seen.append(started.wait(timeout=20))  # the pool starts while the manifest is read
        return load(*args, **kw)

    monkeypatch.setattr(workerpool, "get_pool", pool_started)
    monkeypatch.setattr(mf, "load", slow_load)
    manifest = image_manifest(tmp_path / "in", 2)
    args = ["run", str(manifest), "--out", str(tmp_path / "run"), "--weights", "random", "--size", "32"]
    result = CliRunner().invoke(app, [*args, "--steps", "0", "--set", "scales=1", "--workers", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert seen == [True]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Chunks of 2 jobs; returns the run's events in order: ('registered', n) and ('running', id)."""
    monkeypatch.setattr(intake, "FIRST_CHUNK", 2)
    monkeypatch.setattr(intake, "CHUNK", 2)
    events: list[tuple[str, str]] = []
    add, mark_running = resume.Sync.add, Ledger.mark_running

    def logged_add(self, entries, invalid=()):
        events.append(("registered", str(len(entries))))
        return add(self, entries, invalid)

    def logged_running(self, job_id_, worker):
        events.append(("running", job_id_))
        return mark_running(self, job_id_, worker)

    monkeypatch.setattr(resume.Sync, "add", logged_add)
    monkeypatch.setattr(Ledger, "mark_running", logged_running)
    return events


def test_stopped_while_registering_then_rerun_runs_every_job_once(
    pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: list
) -> None:
    jobs = mf.parse(image_manifest(tmp_path / "in", 7), CFG).jobs  # chunks of 2, 2, 2, 1
    out, options = tmp_path / "run", scheduler.RunOptions(workers=1)
    add = resume.Sync.add

    def stop_at_third(self, entries, invalid=()):
        if sum(kind == "registered" for kind, _ in small_chunks) == 2:
            raise KeyboardInterrupt  # SIGTERM as the command sees it, between two chunks
        return add(self, entries, invalid)

    monkeypatch.setattr(resume.Sync, "add", stop_at_third)
    with pytest.raises(KeyboardInterrupt):
        scheduler.run_jobs(out, jobs, options, CFG)
    assert any(kind == "running" for kind, _ in small_chunks)  # jobs had started
    ledger = Ledger(out, readonly=True)
    assert len(ledger.jobs()) == 4 and ledger.counts()["running"] == 0  # two whole chunks
    ledger.close()

    monkeypatch.setattr(resume.Sync, "add", add)
    small_chunks.clear()
    summary = scheduler.run_jobs(out, jobs, options, CFG)
    kinds = [kind for kind, _ in small_chunks]
    assert kinds.index("running") < len(kinds) - 1 - kinds[::-1].index("registered")
    assert summary.done + summary.skipped == 7 and summary.failed == 0 and not summary.interrupted
    ledger = Ledger(out, readonly=True)
    rows = ledger.jobs(current_only=False)
    ledger.close()
    assert sorted(r["row"] for r in rows) == list(range(2, 9))  # each job once
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in rows)
    assert all((out / r["output"]).is_file() for r in rows)
