"""Reading a run for its report: status counts from the ledger, and one pass over the jobs that
gives jobs.csv, the whole-run figures and the capped lists the page and the sheet show."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ... import images, storage
from ...errors import StylebatchError
from ...storage import Url
from ..ledger import Ledger, RunLock
from . import layout
from .table import JobsTable

_JOB_COLUMNS = (
    "id, kind, source, row, content, styles, style_weights, output, params, status, attempts, "
    "error, worker, node, started, ended, seconds, losses"
)
_ORDER = " ORDER BY source, row, output"
_SCAN = (
    "SELECT id, kind, status, output, source, row, content, styles, error, seconds, attempts, worker, node,"
    " json_extract(losses, '$.total'), json_extract(losses, '$.content'), json_extract(losses, '$.style'),"
    # ledger.py writes params with json.dumps' default separators: a substring test is enough and,
    # unlike parsing ~1 KB of JSON per row, costs little on 100,000 rows
    ' instr(params, \'"weights": "random\') > 0 FROM jobs WHERE current = 1' + _ORDER
)


class ScanRow(NamedTuple):
    """The light columns of one job, as `_SCAN` selects them."""

    id: str
    kind: str
    status: str
    output: str | None
    source: str | None
    row: int | None
    content: str | None
    styles: str | None  # the JSON list as stored
    error: str | None
    seconds: float | None
    attempts: int | None
    worker: str | None
    node: str | None
    loss_total: float | None
    loss_content: float | None
    loss_style: float | None
    random: int


@dataclass
class RunData:
    """What the report shows: capped job lists plus whole-run figures from one pass over the jobs."""

    run_dir: Path
    info: dict[str, Any]
    outputs: Path | Url | None = None  # where the outputs are: run_dir, or a storage prefix
    failed: list[dict[str, Any]] = field(default_factory=list)
    done: list[dict[str, Any]] = field(default_factory=list)
    todo: list[dict[str, Any]] = field(default_factory=list)
    random_jobs: int = 0
    valid_jobs: int = 0  # jobs that are not invalid manifest rows
    requested_device: str = "auto"
    devices: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # device -> [(worker, jobs)]
    worker_device: dict[tuple[str | None, str | None], str] = field(default_factory=dict)
    style_counts: dict[str, int] = field(default_factory=dict)  # style file -> jobs, whole run

    def __post_init__(self) -> None:
        if self.outputs is None:
            self.outputs = self.run_dir


def _decode(row: Any) -> dict[str, Any]:
    d = dict(row)
    for key in ("styles", "style_weights", "params", "losses", "history"):
        if key in d:
            d[key] = json.loads(d[key]) if d[key] else None
    return d


def _name(output: str | None, source: str | None, row: int | None) -> str:
    if output:
        return output
    return f"{Path(source).name if source else 'manifest'}, line {row}"


def job_name(job: dict[str, Any]) -> str:
    """A job's name for people: its output, or for a row that never got one, its manifest line."""
    return _name(job.get("output"), job.get("source"), job.get("row"))


def status(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Counts by status, throughput, ETA and failures; safe while a run is writing."""
    ledger = Ledger(run_dir, readonly=True)
    try:
        return ledger_status(ledger, run_dir)
    finally:
        ledger.close()


def ledger_status(ledger: Ledger, run_dir: str | os.PathLike) -> dict[str, Any]:
    """`status` from a ledger already open."""
    db = ledger.db
    counts = ledger.counts()
    run = ledger.last_run()
    finished = 0
    if run:
        finished = db.execute(
            "SELECT COUNT(*) FROM jobs WHERE current = 1 AND status = 'done' AND ended >= ?",
            (run["started"],),
        ).fetchone()[0]
    failed = db.execute(
        "SELECT output, source, row, error FROM jobs WHERE current = 1 AND status = 'failed'" + _ORDER
    ).fetchall()
    running = db.execute(
        "SELECT output, source, row, worker FROM jobs WHERE current = 1 AND status = 'running'" + _ORDER
    ).fetchall()
    total = sum(counts.values())
    now = time.time()
    elapsed = ((run["ended"] or now) - run["started"]) if run else 0.0
    per_hour = finished / elapsed * 3600 if elapsed > 0 and finished else 0.0
    left = counts["pending"] + counts["running"]
    eta = left / per_hour * 3600 if per_hour and left else None
    return {
        "run_dir": str(run_dir),
        "total": total,
        **counts,
        "running_now": RunLock.held(run_dir),
        "done_this_run": finished,
        "elapsed_s": round(elapsed, 1),
        "images_per_hour": round(per_hour, 1),
        "eta_s": round(eta, 1) if eta is not None else None,
        "failures": [{"job": job_name(dict(r)), "error": r["error"]} for r in failed],
        "in_flight": [{"job": job_name(dict(r)), "worker": r["worker"]} for r in running],
    }


def _sidecar(root: Path | Url, output: str | None) -> dict[str, Any]:
    if not output:
        return {}
    try:
        if isinstance(root, Url):
            return json.loads(storage.read_bytes(root / f"{output}.json"))
        return json.loads(images.sidecar_path(root / output).read_text())
    except (OSError, ValueError, StylebatchError):
        return {}


def _json_functions(db: Any) -> None:
    """SQLite's json_extract is built in since 3.38; older builds get a Python one."""
    try:
        db.execute("SELECT json_extract('{}', '$.a')")
    except Exception:

        def extract(text: str | None, path: str) -> Any:
            try:
                value = json.loads(text) if text else None
            except ValueError:
                return None
            return value.get(path[2:]) if isinstance(value, dict) else None

        db.create_function("json_extract", 2, extract, deterministic=True)


Groups = dict[tuple[str | None, str | None], list]  # (node, worker) -> [done image jobs, an output]


def gather(ledger: Ledger, run_dir: Path, info: dict[str, Any]) -> tuple[RunData, bytes]:
    """One pass over the run's jobs (the light columns only): jobs.csv's bytes, the whole-run
    figures, and which jobs the page shows; then those jobs' full rows, loss history included."""
    run = ledger.last_run()
    outputs = (json.loads(run.get("options") or "{}") or {}).get("outputs") if run else None
    data = RunData(run_dir, info, Url(outputs) if outputs else run_dir)
    db = ledger.db
    _json_functions(db)
    table = JobsTable()
    shown, groups = _scan(db, data, table)
    if run and run.get("config"):
        data.requested_device = (json.loads(run["config"]) or {}).get("device") or "auto"
    data.failed = _full_rows(db, shown["failed"], False)
    data.done = _full_rows(db, shown["done"], True)
    data.todo = _full_rows(db, shown["todo"], False)
    _attach_devices(data, groups)
    return data, table.data()


def _scan(db: Any, data: RunData, table: JobsTable) -> tuple[dict[str, list[str]], Groups]:
    """Every job once: its jobs.csv line, the run's figures in `data`, the ids the page shows
    (up to the caps) and the done image jobs per worker."""
    shown: dict[str, list[str]] = {"failed": [], "done": [], "todo": []}
    caps = {"failed": layout.HTML_MAX_FAILED, "done": layout.HTML_MAX_RESULTS, "todo": layout.HTML_MAX_TODO}
    groups: Groups = {}
    style_lists: dict[str, int] = {}  # the styles column as stored -> jobs
    style_texts: dict[str | None, str] = {}
    for job in map(ScanRow._make, db.execute(_SCAN)):
        style_text = style_texts.get(job.styles)
        if style_text is None:  # a run has few distinct style lists: parse each once
            style_text = style_texts[job.styles] = ";".join(json.loads(job.styles)) if job.styles else ""
        table.add(job, _name(job.output, job.source, job.row), style_text)
        if job.kind != "invalid":
            data.valid_jobs += 1
            data.random_jobs += bool(job.random)
            style_lists[job.styles] = style_lists.get(job.styles, 0) + 1
        if job.status == "done" and job.kind == "image":
            group = groups.setdefault((job.node, job.worker), [0, job.output])
            group[0] += 1
        key = job.status if job.status in ("failed", "done") else "todo"
        if len(shown[key]) < caps[key]:
            shown[key].append(job.id)
    for styles, n in style_lists.items():
        for style in json.loads(styles or "[]"):
            data.style_counts[style] = data.style_counts.get(style, 0) + n
    return shown, groups


def _full_rows(db: Any, ids: list[str], history: bool) -> list[dict[str, Any]]:
    """The jobs `ids` with every column (and the loss history if asked), decoded, in that order."""
    if not ids:
        return []
    cols = _JOB_COLUMNS + (", history" if history else "")
    marks = ",".join("?" * len(ids))
    found = {r["id"]: _decode(r) for r in db.execute(f"SELECT {cols} FROM jobs WHERE id IN ({marks})", ids)}
    return [found[i] for i in ids if i in found]


def _attach_devices(data: RunData, groups: Groups) -> None:
    """The device each worker ran on (one sidecar per worker says it: a worker keeps one device
    for life), and each shown job's device."""
    for (node, worker), (n, output) in groups.items():
        device = _sidecar(data.outputs, output).get("device") or "device not recorded"
        data.worker_device[(node, worker)] = device
        where = f"{worker} on {node}" if node else str(worker)
        data.devices.setdefault(device, []).append((where, n))
    for job in data.done:
        side = _sidecar(data.outputs, job["output"])
        job["device"] = side.get("device") or data.worker_device.get((job["node"], job["worker"]))
    for job in data.failed:
        job["device"] = data.worker_device.get((job["node"], job["worker"]))
