"""Issue #10, finding 5: SIGTERM and SIGHUP behave like Ctrl-C (exit 143 / 129, in-flight jobs back
to pending, no native stack dump, the embedded Ray shut down); after a SIGKILL of the driver no
Ray process lives on for more than a few seconds (Ray's agents used to for about a minute)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from .faultkit import descendants, image_manifest, kill_tree, ledger_rows, stylebatch

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
SLOW = [
    "--weights",
    "random",
    "--size",
    "48",
    "--steps",
    "400",
    "--set",
    "scales=1",
    "--device",
    "cpu",
    "--quiet",
]
LEFT_WITHIN = 5.0  # seconds a Ray process may outlive its driver


def _start_and_wait_for_a_running_job(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    manifest = image_manifest(tmp_path / "in", 3)
    out = tmp_path / "run"
    proc = stylebatch("run", manifest, "--out", out, *SLOW, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        try:
            db = sqlite3.connect(f"file:{out / 'ledger.sqlite'}?mode=ro", uri=True)
            if db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'running'").fetchone()[0]:
                return proc, out
        except sqlite3.Error:
            pass
        time.sleep(0.3)
    kill_tree(proc.pid)
    raise AssertionError(f"no job started: {proc.communicate()}")


def _alive(pids: dict[int, str]) -> list[int]:
    """Which of these (pid -> start time) still run (not zombies, not a reused pid)."""
    out = []
    for pid, start in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and fields[19] == start:
            out.append(pid)
    return out


def _tree(pid: int) -> dict[int, str]:
    tree = {}
    for p in descendants(pid):
        try:
            tree[p] = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[19]
        except OSError:
            pass
    return tree


def _wait_gone(pids: dict[int, str], seconds: float) -> list[int]:
    deadline = time.time() + seconds
    while (left := _alive(pids)) and time.time() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_term_and_hup_are_a_clean_interrupt(tmp_path: Path, sig: int, code: int) -> None:
    proc, out = _start_and_wait_for_a_running_job(tmp_path)
    tree = _tree(proc.pid)
    tree.pop(proc.pid, None)
    assert len(tree) >= 3  # gcs_server, raylet, a worker...
    os.kill(proc.pid, sig)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        raise
    assert proc.returncode == code, err
    assert "Traceback" not in err and "Stack trace" not in err and "*** " not in err, err
    assert "Token authentication is enabled" not in err  # not for an embedded local instance
    assert f"interrupted ({signal.Signals(sig).name})" in err
    statuses = {r["status"] for r in ledger_rows(out)}
    assert "running" not in statuses and "pending" in statuses, statuses
    left = _wait_gone(tree, LEFT_WITHIN)
    assert not left, [Path(f"/proc/{p}/cmdline").read_bytes()[:60] for p in left]


def test_no_ray_process_outlives_a_killed_driver(tmp_path: Path) -> None:
    proc, _ = _start_and_wait_for_a_running_job(tmp_path)
    tree = _tree(proc.pid)
    tree.pop(proc.pid, None)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    left = _wait_gone(tree, LEFT_WITHIN)
    assert not left, [Path(f"/proc/{p}/cmdline").read_bytes()[:60] for p in left]
