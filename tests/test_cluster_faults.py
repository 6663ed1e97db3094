"""A killed driver, a second driver on the same run, a lost node: `stylebatch run` subprocesses on a
private two-node Ray cluster (`ray start --head` + `ray start --address`, one CPU each), torn
down by process id at the end (never another user's Ray).
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest

from .faultkit import (
    FAST,
    LocalCluster,
    check_complete,
    finished_outputs,
    image_manifest,
    integrity,
    ledger_rows,
    run_cli,
    stylebatch,
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = LocalCluster(Path(f"/tmp/sbf{random.randrange(10**6)}"))
    try:
        yield c.start(nodes=2)
    finally:
        c.stop()


def run_args(cluster: LocalCluster, manifest: Path, out: Path, *extra: object, steps: int = 2) -> list:
    settings = [steps if a == "2" and FAST[i - 1] == "--steps" else a for i, a in enumerate(FAST)]
    return ["run", manifest, "--out", out, *settings, "--workers", 2, "--address", cluster.address, *extra]


def wait_for(predicate, timeout: float = 90.0, proc=None) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def test_driver_killed_repeatedly_then_resumed(cluster: LocalCluster, tmp_path: Path) -> None:
    """Five SIGKILLs at random moments; nothing finished is lost, rewritten or duplicated."""
    rng = random.Random(6)
    manifest = image_manifest(tmp_path / "in", 60)
    out = tmp_path / "out"
    expected = {f"c{i:04d}__style.png" for i in range(60)}
    kills = 0
    for k in range(8):
        if kills == 5:
            break
        before = finished_outputs(out)
        proc = stylebatch(*run_args(cluster, manifest, out, "--quiet"), env=cluster.env)
        if k == 0:  # during start-up: connecting, hashing inputs, starting actors
            time.sleep(rng.uniform(0.5, 3.0))
        else:  # while jobs finish: after the next output lands, at a random moment
            wait_for(lambda n=len(before): len(finished_outputs(out)) > n, proc=proc)
            time.sleep(rng.uniform(0.0, 0.5))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait()
        if (out / "ledger.sqlite").exists():  # (a kill during start-up may come before it)
            assert integrity(out) == "ok"  # WAL + transactions: consistent whatever the moment
        after = finished_outputs(out)
        assert all(after.get(name) == st for name, st in before.items())  # not rewritten, not lost
    assert kills == 5, "the runs finished before they could be killed"
    (out / ".c0000__style.png.abcd1234.tmp").write_bytes(b"half an image")  # as if killed mid-write
    before = finished_outputs(out)
    final = run_cli(*run_args(cluster, manifest, out, "--quiet"), env=cluster.env)
    assert final.returncode == 0, final.stdout + final.stderr
    rows = check_complete(out, expected)  # once each, decodable, no .tmp left, ledger agrees
    assert all(finished_outputs(out)[name] == st for name, st in before.items())
    assert all(r["attempts"] == 1 for r in rows)  # no finished job was optimised twice


def busy_workers(out: Path) -> int:
    """Workers with a job dispatched and not finished, by the ledger."""
    try:
        return len({r["worker"] for r in ledger_rows(out) if r["status"] == "running"})
    except sqlite3.Error:  # the ledger is being created
        return 0


def test_lost_node_jobs_are_redone_on_the_other(cluster: LocalCluster, tmp_path: Path) -> None:
    """The second node's raylet is killed mid-run and its jobs finish on the head node; then a
    second driver on the same run is refused while the first goes on."""
    # 14 jobs of 30 steps. The node is killed as soon as both workers (one per node) have jobs
    # in flight, so the lost node always has one: killed after the second driver's start, as
    # before, a loaded machine could drain the queue first and lose none. After the kill the
    # jobs run one at a time on the head node, so the first driver is still busy when the
    # second one is tried.
    manifest = image_manifest(tmp_path / "in", 14)
    out = tmp_path / "out"
    proc = stylebatch(
        *run_args(cluster, manifest, out, "--quiet", steps=30),
        env=cluster.env, stdout=-1, stderr=-1,
    )  # fmt: skip
    try:
        assert wait_for(lambda: busy_workers(out) >= 2, proc=proc), "both workers never had a job"
        cluster.stop_worker_node()
        assert wait_for(lambda: len(finished_outputs(out)) >= 1, proc=proc)
        # a second driver on the same directory while this one runs: refused, nothing interleaved
        second = run_cli(*run_args(cluster, manifest, out), env=cluster.env, timeout=120)
        assert proc.poll() is None, "the first run ended before the second one was tried"
        assert second.returncode == 2, second.stdout + second.stderr
        assert "another stylebatch run is using" in second.stderr
        assert "Traceback" not in second.stdout + second.stderr
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stdout + stderr
    rows = check_complete(out, {f"c{i:04d}__style.png" for i in range(14)})
    assert 1 <= sum(r["crashes"] for r in rows) <= 2  # the lost worker's running job, redone
    assert "Traceback" not in stdout + stderr
