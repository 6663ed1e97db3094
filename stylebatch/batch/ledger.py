"""The run directory's SQLite ledger: one row per job, written by the driver as results arrive.

Readers (`stylebatch status`, reports) open it read-only while a run goes on (WAL mode).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ConfigError, LedgerError, LedgerWriteError, StorageError, free_space, storage_message
from . import resume
from .jobs import Entry, JobResult
from .lock import LOCK_NAME, RunLock
from .manifest import RowError

__all__ = ["LEDGER_NAME", "LOCK_NAME", "Ledger", "RunLock", "damaged_message"]

LEDGER_NAME = "ledger.sqlite"
RESERVE_NAME = ".ledger-reserve"  # room kept for the ledger's last writes when the disk fills up
RESERVE_BYTES = 48 * 1024  # a checkpoint of a few pages plus the last updates
STATUSES = ("pending", "running", "done", "failed")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'image',
    source TEXT, row INTEGER,
    content TEXT, styles TEXT, style_weights TEXT, output TEXT,
    params TEXT,            -- the job's effective settings (JSON)
    inputs_hash TEXT,       -- sha256 of content and style files
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,   -- optimisation starts
    crashes INTEGER NOT NULL DEFAULT 0,    -- workers lost while running it (this run)
    error TEXT, worker TEXT, node TEXT,
    started REAL, ended REAL, seconds REAL,
    losses TEXT, history TEXT,
    current INTEGER NOT NULL DEFAULT 1,    -- part of the latest run's job list
    updated REAL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL, ended REAL, config TEXT, options TEXT,
    total INTEGER, skipped INTEGER, done INTEGER, failed INTEGER, started_jobs INTEGER,
    interrupted INTEGER DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_current_status ON jobs (current, status);
"""


def damaged_message(path: Path, reason: str) -> str:
    return (
        f"the ledger {path} is damaged ({reason}); rebuild it from the outputs' sidecars with "
        "`stylebatch run MANIFEST --out DIR --rebuild-ledger` (or `stylebatch folder ... "
        "--rebuild-ledger`): finished outputs are kept and not redone"
    )


def _unwritable(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return any(k in text for k in ("full", "readonly", "read-only", "i/o error", "unable to open"))


class Ledger:
    """Read-write access for the driver (one process), or read-only for status and reports.

    A damaged file raises LedgerError naming `--rebuild-ledger`; a ledger that cannot be written
    raises StorageError when opened and LedgerError on a later write.
    """

    def __init__(self, run_dir: str | os.PathLike, readonly: bool = False) -> None:
        self.path = Path(run_dir) / LEDGER_NAME
        self.reserve = Path(run_dir) / RESERVE_NAME
        self.readonly = readonly
        if readonly and not self.path.exists():
            raise ConfigError(f"{run_dir} is not a run directory (no {LEDGER_NAME})")
        if self.path.exists() and self.path.stat().st_size == 0:
            raise LedgerError(damaged_message(self.path, "an empty file"))
        try:
            if readonly:
                # a read-only directory (a finished run on read-only media) has no -shm to share
                ro = "&immutable=1" if not os.access(self.path.parent, os.W_OK) else ""
                self.db = sqlite3.connect(f"file:{self.path}?mode=ro{ro}", uri=True, timeout=10)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._make_reserve()  # first: on a nearly full disk the ledger itself takes the rest
                if not self.path.exists():
                    self._create()
                self.db = sqlite3.connect(self.path, timeout=30)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(SCHEMA)
            self._check()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and _unwritable(exc) and not readonly:
                raise StorageError(
                    f"cannot write the ledger {self.path}: {exc} ({free_space(self.path)}); "
                    "free some space or choose a writable --out"
                ) from None
            if isinstance(exc, sqlite3.OperationalError) and _unwritable(exc):
                raise LedgerError(f"cannot read the ledger {self.path}: {exc}") from None
            raise LedgerError(damaged_message(self.path, str(exc))) from None
        except OSError as exc:
            raise StorageError(
                f"{storage_message(exc, self.path)}; free some space or choose a writable --out"
            ) from None
        self.db.row_factory = sqlite3.Row

    def _create(self) -> None:
        """A new ledger appears whole (schema included), so a reader never sees an empty file."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        try:
            db = sqlite3.connect(tmp)
            try:
                db.executescript(SCHEMA)
            finally:
                db.close()
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)

    def _check(self) -> None:
        """Damage shows as an error on the first page read: look at every page once, now."""
        result = self.db.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise sqlite3.DatabaseError(result)
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"jobs", "runs"} <= tables:
            raise sqlite3.DatabaseError("no jobs table: not a stylebatch ledger")

    def _make_reserve(self) -> None:
        try:
            with open(self.reserve, "wb") as f:
                f.write(os.urandom(RESERVE_BYTES))  # real blocks, even on compressing filesystems
        except OSError:
            self.reserve.unlink(missing_ok=True)  # no room even for that: run without it

    def close(self) -> None:
        self.db.close()
        if not self.readonly:
            self.reserve.unlink(missing_ok=True)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        try:
            with self.db:  # commit on success, roll back on error
                yield self.db
        except sqlite3.DatabaseError as exc:
            raise LedgerWriteError(
                f"cannot write the ledger {self.path}: {exc} ({free_space(self.path)})"
            ) from None

    def release_reserve(self) -> bool:
        """Free the space kept for the last writes (the disk is full); whether there was any."""
        if self.reserve.exists():
            self.reserve.unlink(missing_ok=True)
            return True
        return False

    def last_write(self, sql: str) -> int:
        """One statement when the disk is full: after the reserve is freed, and once more after
        folding the WAL into the database (which truncates the WAL). Returns the rows changed."""
        self.release_reserve()
        try:
            with self.tx() as db:
                return db.execute(sql).rowcount
        except LedgerError:
            try:
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.DatabaseError:
                pass
            with self.tx() as db:
                return db.execute(sql).rowcount

    # -- the driver's side -------------------------------------------------------------------

    def sync(self, entries: list[Entry], invalid: list[RowError], retry_failed: bool, dest: Any) -> dict:
        """Register this run's jobs; decide which to run. Returns {'run': [...ids], 'skipped': n}."""
        return resume.sync(self, entries, invalid, retry_failed, dest)

    def start_run(self, config: dict, options: dict) -> int:
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO runs (started, config, options) VALUES (?, ?, ?)",
                (time.time(), json.dumps(config, default=str), json.dumps(options, default=str)),
            )
        return int(cur.lastrowid)

    def end_run(self, run_id: int, **counts: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in counts)
        with self.tx() as db:
            db.execute(
                f"UPDATE runs SET ended = ?, {cols} WHERE id = ?", (time.time(), *counts.values(), run_id)
            )

    def mark_running(self, job_id_: str, worker: str) -> None:
        with self.tx() as db:
            db.execute(
                "UPDATE jobs SET status='running', worker=?, started=?, ended=NULL, updated=? WHERE id=?",
                (worker, time.time(), time.time(), job_id_),
            )

    def mark_done(self, job_id_: str, result: JobResult) -> None:
        r = result
        with self.tx() as db:
            db.execute(
                "UPDATE jobs SET status='done', error=NULL, attempts=attempts+1, worker=?, node=?,"
                " started=?, ended=?, seconds=?, losses=?, history=?, updated=? WHERE id=?",
                (r.worker, r.node, r.started, r.ended, r.seconds, json.dumps(r.losses), json.dumps(r.history))
                + (time.time(), job_id_),
            )

    def mark_failed(self, job_id_: str, error: str, attempted: bool = True, **fields: Any) -> None:
        with self.tx() as db:
            db.execute(
                "UPDATE jobs SET status='failed', error=?, attempts=attempts+?, worker=COALESCE(?, worker),"
                " node=COALESCE(?, node), ended=?, updated=? WHERE id=?",
                (
                    error,
                    int(attempted),
                    fields.get("worker"),
                    fields.get("node"),
                    time.time(),
                    time.time(),
                    job_id_,
                ),
            )

    def mark_crashed(self, job_id_: str) -> int:
        """A worker died while running this job: count it, back to pending. Returns crashes so far."""
        with self.tx() as db:
            db.execute(
                "UPDATE jobs SET status='pending', attempts=attempts+1, crashes=crashes+1, updated=? WHERE id=?",
                (time.time(), job_id_),
            )
            return int(db.execute("SELECT crashes FROM jobs WHERE id=?", (job_id_,)).fetchone()[0])

    def mark_pending(self, ids: list[str]) -> None:
        with self.tx() as db:
            db.executemany(
                "UPDATE jobs SET status='pending', updated=? WHERE id=?", [(time.time(), i) for i in ids]
            )

    # -- readers -------------------------------------------------------------------------------

    def jobs(self, current_only: bool = True) -> list[dict[str, Any]]:
        query = (
            "SELECT * FROM jobs"
            + (" WHERE current = 1" if current_only else "")
            + " ORDER BY source, row, output"
        )
        out = []
        for row in self.db.execute(query):
            d = dict(row)
            for key in ("styles", "style_weights", "params", "losses", "history"):
                d[key] = json.loads(d[key]) if d.get(key) else None
            out.append(d)
        return out

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for row in self.db.execute("SELECT status, COUNT(*) FROM jobs WHERE current = 1 GROUP BY status"):
            counts[row[0]] = row[1]
        return counts

    def last_run(self) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        return dict(row) if row else None
