"""The run ledger: job identity, resume decisions, read-only status, the run lock."""

from __future__ import annotations

import hashlib
import pickle
import sqlite3
from pathlib import Path

import pytest

from stylebatch.batch.jobs import JobResult, JobSpec, job_id, make_entry
from stylebatch.batch.ledger import Ledger, RunLock
from stylebatch.batch.manifest import Job, RowError
from stylebatch.config import StyleConfig
from stylebatch.errors import ConfigError

from .conftest import synthetic_photo, synthetic_style


@pytest.fixture
def job(tmp_path: Path) -> Job:
    synthetic_photo().save(tmp_path / "a.png")
    synthetic_style().save(tmp_path / "s.png")
    return Job(tmp_path / "a.png", (tmp_path / "s.png",), "a__s.png")


def test_job_id_follows_contents_and_settings(job: Job) -> None:
    cfg = StyleConfig(weights="random")
    first, inputs = job_id(job, cfg, "random:0")
    runtime = cfg.replace(device="cpu", progress_every=3, cuda_graphs=True, channels_last="off", compile=True)
    assert job_id(job, runtime, "random:0")[0] == first  # runtime only: the same job
    assert job_id(job, cfg.replace(steps=7), "random:0")[0] != first
    assert job_id(job, cfg, "random:1")[0] != first
    synthetic_photo(seed=5).save(job.content)  # same name, new contents
    assert job_id(job, cfg, "random:0")[0] != first


def test_sync_resume_decisions(tmp_path: Path, job: Job) -> None:
    run = tmp_path / "run"
    cfg = StyleConfig()
    entry = make_entry(job, cfg, "x")
    bad = RowError("m.csv", 3, "content", "file not found")
    ledger = Ledger(run)
    assert ledger.sync([entry], [bad], True, run) == {"run": [entry.id], "skipped": 0}
    assert ledger.counts() == {"pending": 1, "running": 0, "done": 0, "failed": 1}
    ledger.mark_running(entry.id, "w1")  # a driver killed here leaves it running...
    assert ledger.sync([entry], [], True, run)["run"] == [entry.id]  # ...and it is redone
    done = JobResult(worker="w1", seconds=1.0, losses={"total": 1.0}, history=[])
    ledger.mark_done(entry.id, done)
    assert ledger.sync([entry], [], True, run)["run"] == [entry.id]  # done, but the output is gone
    ledger.mark_done(entry.id, done)
    (run / job.output).write_bytes(b"x")
    assert ledger.sync([entry], [], True, run) == {"run": [], "skipped": 1}
    ledger.mark_failed(entry.id, "boom")
    assert ledger.sync([entry], [], False, run)["run"] == []  # --no-retry-failed
    assert ledger.sync([entry], [], True, run)["run"] == [entry.id]
    assert ledger.counts()["failed"] == 0  # the invalid row is not part of this run
    ledger.close()
    ro = Ledger(run, readonly=True)
    (row,) = ro.jobs()
    assert row["attempts"] == 3 and row["error"] == "boom" and row["losses"] == {"total": 1.0}
    with pytest.raises(sqlite3.OperationalError):
        ro.db.execute("DELETE FROM jobs")
    assert ro.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ro.close()


def test_ledger_stores_the_inputs_hash(tmp_path: Path, job: Job) -> None:
    """The inputs_hash column holds sha256 over the input files' sha256s (not the job id)."""
    files = hashlib.sha256()
    for path in (job.content, *job.styles):
        files.update(hashlib.sha256(path.read_bytes()).hexdigest().encode())
    entry = make_entry(job, StyleConfig(), "x")
    ledger = Ledger(tmp_path / "run")
    ledger.sync([entry], [], True, tmp_path / "run")
    stored = ledger.db.execute("SELECT inputs_hash FROM jobs WHERE id = ?", (entry.id,)).fetchone()[0]
    ledger.close()
    assert stored == files.hexdigest() != entry.id


def test_job_spec_and_result_survive_pickling(job: Job) -> None:
    """What crosses the Ray boundary both ways: the spec with its effective settings, the result."""
    cfg = StyleConfig(steps=7, weights="random")
    spec = JobSpec.of(make_entry(job, cfg, "x"), "w1")
    assert pickle.loads(pickle.dumps(spec)) == spec and spec.cfg.steps == 7
    result = JobResult(started=1.0, ended=2.0, data=b"png", sidecar={"job_id": spec.id}, notes=["n"])
    assert pickle.loads(pickle.dumps(result)) == result and result.ok


def test_lock_refuses_second_run(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        with pytest.raises(ConfigError, match="another stylebatch run is using"):
            with RunLock(tmp_path):
                pass
    with RunLock(tmp_path):  # released
        pass
    assert not RunLock.held(tmp_path)


def test_lock_held_is_seen_by_readers(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        assert RunLock.held(tmp_path)
