"""A lost or damaged ledger rebuilt from the outputs' sidecars, so no finished output is redone."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .destination import Destination
from .jobs import RUNTIME_ONLY
from .ledger import LEDGER_NAME, Ledger
from .sidecars import result_columns

_INSERT = (
    "INSERT OR REPLACE INTO jobs (id, kind, source, row, content, styles, style_weights, output, params,"
    " inputs_hash, status, attempts, worker, node, started, ended, seconds, losses, history, current,"
    " updated) VALUES (?,?,?,?,?,?,?,?,?,?,'done',1,?,?,?,?,?,?,?,1,?)"
)


def rebuild(run_dir: str | os.PathLike, dest: Destination | None = None) -> int:
    """A new ledger from the outputs' sidecars (in `run_dir`, or at `dest`) (each names its job id, inputs, settings, losses).

    A damaged ledger is kept beside it as `ledger.sqlite.damaged-TIME`. Returns the jobs recovered
    as done; the next `sync` skips those whose inputs, settings and weights are unchanged.
    """
    run_dir = Path(run_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in ("", "-wal", "-shm"):
        old = run_dir / f"{LEDGER_NAME}{suffix}"
        if old.exists():
            old.rename(run_dir / f"{LEDGER_NAME}.damaged-{stamp}{suffix}")
    ledger = Ledger(run_dir)
    n = 0
    try:
        with ledger.tx() as db:
            for output, side in (dest or Destination(run_dir)).sidecars():
                db.execute(_INSERT, _row(output, side))
                n += 1
    finally:
        ledger.close()
    return n


def _row(output: str, side: dict[str, Any]) -> tuple:
    inputs = side.get("inputs") or {}
    row = side.get("manifest_row") or {}
    params = {k: v for k, v in (side.get("settings") or {}).items() if k not in RUNTIME_ONLY}
    job = (side["job_id"], "image", row.get("source"), row.get("line"), inputs.get("content"))
    files = (json.dumps(inputs.get("styles")), json.dumps(inputs.get("style_weights")), output)
    # sidecars do not carry the inputs hash: the rebuilt row has none
    settings = (json.dumps(params, default=str), side.get("inputs_hash"))
    return (*job, *files, *settings, *result_columns(side), time.time())
