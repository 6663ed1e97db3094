"""Issue #10, finding 4: a damaged ledger.sqlite (truncated, garbage, zero bytes) is one line and
exit 2 naming --rebuild-ledger; the rebuild from the sidecars keeps every finished output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stylebatch.batch import ledger as ledgerlib
from stylebatch.batch import manifest as mf
from stylebatch.batch import scheduler
from stylebatch.batch.rebuild import rebuild
from stylebatch.cli import app
from stylebatch.config import StyleConfig
from stylebatch.errors import LedgerError

from .faultkit import FAST, image_manifest, ledger_rows

runner = CliRunner()
CFG = StyleConfig(size=32, steps=2, scales=1, weights="random", device="cpu")


@pytest.fixture(scope="module")
def finished(ray_session, tmp_path_factory) -> tuple[Path, Path]:
    """A manifest of three jobs and a run directory where all three are done."""
    root = tmp_path_factory.mktemp("damage")
    manifest = image_manifest(root / "in", 3)
    out = root / "run"
    summary = scheduler.run_batch(out, _entries(manifest), scheduler.RunOptions(workers=1), CFG)
    assert summary.done == 3
    yield manifest, out
    scheduler.release_workers()


def _entries(manifest: Path) -> list:
    return scheduler.prepare(mf.parse(manifest, CFG).jobs, CFG)


def _damage(run_dir: Path, how: str) -> None:
    path = run_dir / ledgerlib.LEDGER_NAME
    for extra in run_dir.glob(f"{ledgerlib.LEDGER_NAME}-*"):
        extra.unlink()  # the WAL would otherwise still hold a good copy of recent pages
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2 + 100])
    elif how == "garbage":
        path.write_bytes(bytes(range(256)) * (len(data) // 256 + 1))
    else:
        path.write_bytes(b"")


@pytest.mark.parametrize("how", ["truncated", "garbage", "empty"])
def test_damaged_ledger_is_one_line_then_rebuilt_from_sidecars(finished, tmp_path: Path, how: str) -> None:
    manifest, done_dir = finished
    run_dir = tmp_path / "run"
    shutil.copytree(done_dir, run_dir)
    outputs = {p.name: p.stat().st_mtime_ns for p in run_dir.glob("*.png")}
    _damage(run_dir, how)
    for args in (
        ["status", str(run_dir)],
        ["report", str(run_dir)],
        ["run", str(manifest), "--out", str(run_dir), *FAST],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output, result.exception)
        assert "damaged" in result.output and "--rebuild-ledger" in result.output, result.output
        assert "Traceback" not in result.output
    with pytest.raises(LedgerError):
        ledgerlib.Ledger(run_dir, readonly=True)
    summary = scheduler.run_batch(
        run_dir, _entries(manifest), scheduler.RunOptions(), CFG, rebuild_ledger=True
    )
    assert (summary.rebuilt, summary.skipped, summary.done, summary.started) == (3, 3, 0, 0)
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.glob("*.png")} == outputs  # nothing redone
    assert {r["status"] for r in ledger_rows(run_dir)} == {"done"}
    assert list(run_dir.glob("ledger.sqlite.damaged-*"))  # the damaged file is kept for a post-mortem


def test_lost_ledger_is_rebuilt_with_a_note(finished, tmp_path: Path) -> None:
    manifest, done_dir = finished
    run_dir = tmp_path / "run"
    shutil.copytree(done_dir, run_dir)
    for path in run_dir.glob(f"{ledgerlib.LEDGER_NAME}*"):
        path.unlink()
    notes: list[str] = []

    class Notes(scheduler.Reporter):
        def note(self, text: str) -> None:
            notes.append(text)

    summary = scheduler.run_batch(run_dir, _entries(manifest), scheduler.RunOptions(), CFG, reporter=Notes())
    assert (summary.skipped, summary.started) == (3, 0)
    assert notes and "rebuilt the ledger from 3" in notes[0]


def test_rebuilt_rows_carry_what_the_report_needs(finished, tmp_path: Path) -> None:
    _, done_dir = finished
    run_dir = tmp_path / "run"
    shutil.copytree(done_dir, run_dir)
    before = {r["id"]: r for r in ledger_rows(run_dir)}
    assert rebuild(run_dir) == 3
    after = {r["id"]: r for r in ledger_rows(run_dir)}
    assert after.keys() == before.keys()
    for key, row in after.items():
        for col in ("output", "content", "source", "row", "losses", "history", "worker", "node"):
            assert row[col] == before[key][col], col
        assert row["seconds"] == pytest.approx(before[key]["seconds"], abs=1e-3)  # sidecars round to ms
