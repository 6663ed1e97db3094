"""Issue #10, findings 2 and 3: disk full, read-only and permission faults at every write site.

A fault writing one output fails that job with one line (path, cause, free space) and the rest
completes; a ledger that cannot be written stops the run with no row left 'running'; an
unwritable --out is refused up front (exit 2); a rerun after the fault is gone completes.
Simulated by monkeypatching, plus the real thing (a tiny tmpfs, a read-only bind mount) where
this process may mount (root in a container that allows it).
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stylebatch import images
from stylebatch.batch import manifest as mf
from stylebatch.batch import scheduler
from stylebatch.batch.ledger import Ledger
from stylebatch.cli import app
from stylebatch.config import StyleConfig
from stylebatch.errors import LedgerWriteError

from .faultkit import FAST, image_manifest, ledger_rows

runner = CliRunner()
CFG = StyleConfig(size=32, steps=2, scales=1, weights="random", device="cpu")


@pytest.fixture(scope="module", autouse=True)
def pool(ray_session):
    yield ray_session
    scheduler.release_workers()


def _run(manifest: Path, out: Path, **kw) -> scheduler.RunSummary:
    entries = scheduler.prepare(mf.parse(manifest, CFG).jobs, CFG)
    return scheduler.run_batch(out, entries, scheduler.RunOptions(workers=1), CFG, **kw)


def _oserror(code: int, path: object = None) -> OSError:
    return OSError(code, os.strerror(code), str(path) if path else None)


def _fail_for(name: str, code: int, where: str):
    """A stand-in for one write site that fails for the output called `name`."""
    real_mkstemp, real_replace = images.tempfile.mkstemp, images.os.replace

    def mkstemp(*a, **kw):
        if where == "temp" and kw.get("prefix", "").startswith(f".{name}"):
            raise _oserror(code, kw.get("dir"))
        return real_mkstemp(*a, **kw)

    def replace(src, dst):
        if where == "rename" and Path(dst).name == name:
            raise _oserror(code, dst)
        if where == "sidecar" and Path(dst).name == f"{name}.json":
            raise _oserror(code, dst)
        return real_replace(src, dst)

    return mkstemp, replace


@pytest.mark.parametrize(
    "where, code", [("temp", errno.ENOSPC), ("rename", errno.EROFS), ("sidecar", errno.EACCES)]
)
def test_a_write_fault_fails_that_job_only(tmp_path: Path, monkeypatch, where: str, code: int) -> None:
    manifest = image_manifest(tmp_path / "in", 3)
    out = tmp_path / "run"
    mkstemp, replace = _fail_for("c0001__style.png", code, where)
    monkeypatch.setattr(images.tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(images.os, "replace", replace)
    summary = _run(manifest, out)
    rows = {r["output"]: r for r in ledger_rows(out)}
    assert summary.failed == 1 and summary.done == 2
    error = rows["c0001__style.png"]["error"]
    assert error.startswith(f"cannot write {out / 'c0001__style.png'}: {os.strerror(code)}"), error
    assert errno.errorcode[code] in error and "free" in error
    assert not (out / "c0001__style.png").exists()  # never an output without its sidecar
    assert not list(out.glob(".*.tmp"))
    assert {r["status"] for r in rows.values()} == {"done", "failed"}
    monkeypatch.undo()  # the disk has room again: the rerun does only the failed job
    again = _run(manifest, out)
    assert (again.done, again.skipped, again.failed) == (1, 2, 0)


def test_a_ledger_that_cannot_be_written_stops_the_run_with_nothing_running(
    tmp_path: Path, monkeypatch
) -> None:
    manifest = image_manifest(tmp_path / "in", 4)
    out = tmp_path / "run"
    real = Ledger.mark_done
    calls = []

    def mark_done(self, job_id, result):
        calls.append(job_id)
        if len(calls) == 2:
            with self.tx():
                raise sqlite3.OperationalError("database or disk is full")
        return real(self, job_id, result)

    monkeypatch.setattr(Ledger, "mark_done", mark_done)
    with pytest.raises(LedgerWriteError) as info:
        _run(manifest, out)
    message = str(info.value)
    assert "cannot write the ledger" in message and "stopped taking new work" in message
    assert "put back to pending" in message and "\n" not in message
    statuses = [r["status"] for r in ledger_rows(out)]
    assert "running" not in statuses and statuses.count("done") == 1, statuses
    monkeypatch.undo()
    # outputs that reached the disk (the one whose ledger write failed, and any the writer
    # threads finished meanwhile) are kept with their sidecars and adopted, not redone
    landed = len(list(out.glob("*.png")))
    assert landed >= 2
    again = _run(manifest, out)
    assert (again.done, again.skipped, again.failed) == (4 - landed, landed, 0)
    assert {r["status"] for r in ledger_rows(out)} == {"done"}


def test_unwritable_out_is_refused_up_front(tmp_path: Path) -> None:
    manifest = image_manifest(tmp_path / "in", 1)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["run", str(manifest), "--out", str(blocker / "run"), *FAST])
    assert result.exit_code == 2, (result.output, result.exception)
    assert "cannot write" in result.output and "choose a writable --out" in result.output
    assert "Traceback" not in result.output


def test_report_on_an_unwritable_run_is_one_line(tmp_path: Path, monkeypatch) -> None:
    manifest = image_manifest(tmp_path / "in", 1)
    out = tmp_path / "run"
    _run(manifest, out)
    from stylebatch.batch import report

    def read_only(*a, **kw):
        raise _oserror(errno.EROFS, out / "contact_sheet.jpg")

    monkeypatch.setattr(report, "write_report", read_only)
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 2 and "Read-only file system (EROFS" in result.output, result.output
    assert runner.invoke(app, ["status", str(out)]).exit_code == 0


# -- the real thing, where this process may mount ------------------------------------------------


def _mount(*args: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def mountpoint(tmp_path: Path):
    point = tmp_path / f"mnt-{uuid.uuid4().hex[:6]}"
    point.mkdir()
    yield point
    subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_real_disk_full_then_rerun_after_freeing_space(tmp_path: Path, mountpoint: Path) -> None:
    if not _mount("-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mountpoint)):
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    manifest = image_manifest(tmp_path / "in", 6, prefix="p")
    cfg = CFG.replace(size=96)
    entries = scheduler.prepare(mf.parse(manifest, cfg).jobs, cfg)
    out = mountpoint / "run"
    try:
        summary = scheduler.run_batch(out, entries, scheduler.RunOptions(workers=1), cfg)
        stopped = None
        assert summary.failed > 0  # the disk could not hold all six
    except LedgerWriteError as exc:
        stopped = str(exc)
    rows = ledger_rows(out)
    assert "running" not in {r["status"] for r in rows}
    errors = [r["error"] for r in rows if r["status"] == "failed"]
    assert all("No space left on device (ENOSPC" in e for e in errors), errors
    assert stopped is None or "stopped taking new work" in stopped
    assert _mount("-o", "remount,size=4m", str(mountpoint))
    again = scheduler.run_batch(out, entries, scheduler.RunOptions(workers=1), cfg)
    assert again.failed == 0 and len(list(out.glob("p*__style.png.json"))) == 6


def test_real_read_only_out(tmp_path: Path, mountpoint: Path) -> None:
    manifest = image_manifest(tmp_path / "in", 1)
    source = tmp_path / "finished"
    _run(manifest, source)
    if not (
        _mount("--bind", str(source), str(mountpoint)) and _mount("-o", "remount,ro,bind", str(mountpoint))
    ):
        pytest.skip("cannot make a read-only bind mount here")
    for args in (["run", str(manifest), "--out", str(mountpoint), *FAST], ["report", str(mountpoint)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "Read-only file system (EROFS" in result.output, result.output
    status = runner.invoke(app, ["status", str(mountpoint)])
    assert status.exit_code == 0, status.output
