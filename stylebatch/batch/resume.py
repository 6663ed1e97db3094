"""Which of a run's jobs run: each is registered in the ledger and compared with what an earlier
run left (done, failed, in flight, an output written but never recorded). In bulk: one read of
the existing rows, batched writes, one transaction."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .destination import Destination
from .jobs import Entry, invalid_id, job_params
from .manifest import RowError
from .sidecars import finished_output, result_columns

if TYPE_CHECKING:
    from .ledger import Ledger

_INSERT = (
    "INSERT INTO jobs (id, kind, source, row, content, styles, style_weights, output,"
    " params, inputs_hash, status, updated) VALUES (?,?,?,?,?,?,?,?,?,?, 'pending', ?)"
)
_REDO = "UPDATE jobs SET status='pending', crashes=0, current=1, updated=? WHERE id=?"
_KEEP = "UPDATE jobs SET current=1 WHERE id=?"
_ADOPT = (
    "UPDATE jobs SET status='done', error=NULL, current=1, attempts=attempts+1, worker=?, node=?, started=?,"
    " ended=?, seconds=?, losses=?, history=?, updated=? WHERE id=?"
)
_INVALID = (
    "INSERT INTO jobs (id, kind, source, row, status, error, current, updated, ended)"
    " VALUES (?, 'invalid', ?, ?, 'failed', ?, 1, ?, ?)"
    " ON CONFLICT(id) DO UPDATE SET status='failed', error=excluded.error, current=1,"
    " updated=excluded.updated"
)


@dataclass
class _Plan:
    """The decisions of one sync, as rows for the batched writes."""

    now: float
    run: list[str] = field(default_factory=list)  # ids to run (of the chunk), in manifest order
    skipped: int = 0
    inserts: list[tuple] = field(default_factory=list)
    redo: list[tuple] = field(default_factory=list)
    keep: list[tuple] = field(default_factory=list)
    adopted: list[tuple] = field(default_factory=list)
    params_json: dict[int, str] = field(default_factory=dict)  # one JSON text per config object

    def decide(self, e: Entry, status: str | None, retry_failed: bool, dest: Destination) -> None:
        if status is None:
            self.inserts.append(self._new_row(e))
            self.run.append(e.id)
            return
        side = finished_output(dest, e) if status in ("pending", "running") else None
        if side is not None:  # written by a run that died before its ledger could say so
            self.adopted.append((*result_columns(side), self.now, e.id))
            self.skipped += 1
        elif (
            status in ("pending", "running")
            or (status == "failed" and retry_failed)
            or (status == "done" and not dest.exists(e.job.output))
        ):
            self.redo.append((self.now, e.id))
            self.run.append(e.id)
        else:
            self.keep.append((e.id,))
            self.skipped += status == "done"

    def _new_row(self, e: Entry) -> tuple:
        job = e.job
        if id(e.cfg) not in self.params_json:
            self.params_json[id(e.cfg)] = json.dumps(job_params(e.cfg), default=str)
        where = (e.id, job.kind, job.source, job.row)
        files = (str(job.content), json.dumps([str(s) for s in job.styles]), json.dumps(job.style_weights))
        return (*where, *files, job.output, self.params_json[id(e.cfg)], e.inputs_hash or None, self.now)


class Sync:
    """Registration in steps, for a run that starts its first jobs while the rest of its manifest
    is still hashed: `begin` once, then `add` chunk by chunk (one transaction each, so a run
    stopped between chunks leaves whole chunks registered, and the next run registers the rest)."""

    def __init__(self, ledger: Ledger, retry_failed: bool, dest: Destination | Path) -> None:
        self.ledger, self.retry_failed = ledger, retry_failed
        self.dest = dest if isinstance(dest, Destination) else Destination(Path(dest))
        self.plan = _Plan(time.time())
        self.known: dict[str, str] = {}
        self.seen: set[str] = set()  # ids registered by this run

    def begin(self, invalid: list[RowError]) -> None:
        """Read what earlier runs left, take their jobs out of the current list, record bad rows."""
        with self.ledger.tx() as db:
            self.known = dict(db.execute("SELECT id, status FROM jobs").fetchall())
            db.execute("UPDATE jobs SET current = 0 WHERE current = 1")
            db.executemany(_INVALID, self._invalid_rows(invalid))

    def _invalid_rows(self, invalid: Sequence[RowError]) -> list[tuple]:
        now = self.plan.now
        return [
            (invalid_id(err), err.source, err.row, f"invalid row: {err.field}: {err.problem}", now, now)
            for err in invalid
        ]

    def add(self, entries: list[Entry], invalid: Sequence[RowError] = ()) -> list[str]:
        """Register `entries` (and rows found bad while they were made); the ids among them to run."""
        plan = self.plan
        plan.run, plan.inserts, plan.redo, plan.keep, plan.adopted = [], [], [], [], []
        for e in entries:
            if e.id not in self.seen:  # an id twice in one run is one job
                self.seen.add(e.id)
                plan.decide(e, self.known.get(e.id), self.retry_failed, self.dest)
        with self.ledger.tx() as db:
            db.executemany(_INSERT, plan.inserts)
            db.executemany(_REDO, plan.redo)
            db.executemany(_KEEP, plan.keep)
            db.executemany(_ADOPT, plan.adopted)
            db.executemany(_INVALID, self._invalid_rows(invalid))
        return plan.run


def sync(
    ledger: Ledger,
    entries: list[Entry],
    invalid: list[RowError],
    retry_failed: bool,
    dest: Destination | Path,
) -> dict:
    """Register this run's jobs; decide which to run. Returns {'run': [...ids], 'skipped': n}."""
    steps = Sync(ledger, retry_failed, dest)
    steps.begin(invalid)
    run = steps.add(entries)
    return {"run": run, "skipped": steps.plan.skipped}
