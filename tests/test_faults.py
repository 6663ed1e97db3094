"""Faults inside a run (on the session's Ray): a worker process killed mid-job, out of memory.

A job that kills its worker on every attempt is tested in test_batch_run.py
(test_worker_death_requeues_then_gives_up); a lost node in test_cluster_faults.py.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import ray

from stylebatch.batch import manifest as mf
from stylebatch.batch import pool as workerpool
from stylebatch.batch import scheduler
from stylebatch.config import StyleConfig

from .faultkit import cmdline, descendants, ledger_rows, tiny_image


@pytest.fixture(scope="module", autouse=True)
def pool(ray_session):
    yield ray_session
    scheduler.release_workers()


def jobs(folder: Path, names: list[str]) -> list[mf.Job]:
    folder.mkdir(parents=True, exist_ok=True)
    style = tiny_image(folder / "style.png", 99)
    return [
        mf.Job(tiny_image(folder / f"{n}.png", i), (style,), f"{n}.png", source="test", row=i + 2)
        for i, n in enumerate(names)
    ]


def run(out: Path, job_list: list[mf.Job], steps: int = 2, workers: int = 1):
    cfg = StyleConfig(size=32, steps=steps, scales=1, weights="random", device="cpu")
    options = scheduler.RunOptions(workers=workers)
    return scheduler.run_batch(out, scheduler.prepare(job_list, cfg), options, cfg)


def busy_worker_pids() -> list[int]:
    """Worker actor processes of this test session that are running a job right now."""
    return [p for p in descendants(os.getpid()) if "ray::StyleWorker.run" in cmdline(p)]


def test_worker_killed_mid_job_is_replaced_and_the_job_redone(tmp_path: Path) -> None:
    killed: list[int] = []

    def kill_first_busy_worker() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            pids = busy_worker_pids()
            if pids:
                time.sleep(0.1)  # well inside the optimisation
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.1)

    killer = threading.Thread(target=kill_first_busy_worker, daemon=True)
    killer.start()
    summary = run(tmp_path / "out", jobs(tmp_path, ["a", "b", "c", "d"]), steps=10)
    killer.join()
    assert killed, "no worker was seen running a job"
    assert summary.exit_code == 0 and summary.done == 4
    rows = {r["output"]: r for r in ledger_rows(tmp_path / "out")}
    assert all(r["status"] == "done" for r in rows.values())
    crashed = [r for r in rows.values() if r["crashes"] == 1]
    assert len(crashed) == 1 and crashed[0]["attempts"] == 2  # the killed attempt, then the redo
    assert sorted(r["attempts"] for r in rows.values()) == [1, 1, 1, 2]  # no other job ran twice
    # the replacement is a new process, alive after the run
    pids = [ray.get(w.handle.ping.remote())["pid"] for w in workerpool.POOL.workers]
    assert pids and killed[0] not in pids


def test_out_of_memory_is_a_clear_failure_and_the_worker_survives(tmp_path: Path, faults) -> None:
    faults(oom=["huge"])  # the job raises torch.OutOfMemoryError in its worker
    summary = run(tmp_path / "out", jobs(tmp_path, ["huge", "after"]))
    assert summary.exit_code == 1 and summary.done == 1
    rows = {r["output"]: r for r in ledger_rows(tmp_path / "out")}
    huge, after = rows["huge.png"], rows["after.png"]
    assert huge["status"] == "failed" and huge["crashes"] == 0
    assert huge["error"].startswith("out of memory at size 32 px")
    assert "try a smaller --size" in huge["error"]
    assert after["status"] == "done" and after["worker"] == huge["worker"]  # same worker, still alive
    assert [r["output"] for r in rows.values() if r["status"] == "failed"] == ["huge.png"]
