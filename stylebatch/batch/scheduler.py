"""The batch driver: a run's jobs planned against the ledger, image jobs on the worker pool, video
jobs handed to the video layer, the run's counts recorded.

Per-job errors (a storage fault writing an output included) fail that job only; a dead worker
is replaced and its job requeued (bounded); Ctrl-C (or SIGTERM, SIGHUP) puts in-flight jobs
back to pending so the next run resumes them. Only a ledger that cannot be written stops a run.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from .. import storage, weights
from ..config import StyleConfig
from ..errors import ConfigError, LedgerError, StorageError, storage_message
from ..hashing import input_fingerprint
from .destination import Destination, destination
from .imagerun import ImageRun
from .jobs import Entry, job_params, make_entry
from .ledger import LEDGER_NAME, Ledger
from .lock import LOCK_NAME, RunLock
from .manifest import Job, RowError, output_problems
from .options import Reporter, RunOptions, RunSummary
from .pool import release_workers, worker_stats
from .rebuild import rebuild
from .rundir import check_writable, remove_stale_temps
from .sidecars import has_sidecars
from .videorun import run_video

__all__ = ["Reporter", "RunOptions", "RunSummary", "prepare", "release_workers", "run_batch", "worker_stats"]

HASH_THREADS = 8  # input files hashed at once while a run is prepared


def prepare(jobs: list[Job], base_cfg: StyleConfig) -> list[Entry]:
    """Each job's effective settings and ledger id (hash of inputs, settings and weights).

    The weights every job needs are resolved and loaded here, on the driver, before any worker
    starts: missing weights fail once with the three ways out (WeightsError), not in N workers.
    Jobs with the same overrides share one config object and one settings dict; the input
    files are hashed in a thread pool first (hashlib and file reads release the GIL).
    """
    configs: dict[tuple, StyleConfig] = {}
    for job in jobs:
        if job.overrides not in configs:
            configs[job.overrides] = job.config(base_cfg)
    for spec in dict.fromkeys(cfg.weights for cfg in configs.values()):
        weights.ensure(spec)
    shared = {
        key: (cfg, job_params(cfg), weights.resolve(cfg.weights).identity) for key, cfg in configs.items()
    }
    paths = sorted({p for job in jobs for p in (job.content, *job.styles)}, key=str)
    with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:  # fills the per-process hash cache
        parts = (paths[i::HASH_THREADS] for i in range(HASH_THREADS))
        list(pool.map(lambda part: [input_fingerprint(p) for p in part], parts))
    entries = []
    for job in jobs:
        cfg, params, weights_identity = shared[job.overrides]
        entries.append(make_entry(job, cfg, weights_identity, params))
    return entries


def run_batch(
    run_dir: str | os.PathLike,
    entries: list[Entry],
    options: RunOptions,
    base_cfg: StyleConfig,
    invalid: list[RowError] | None = None,
    reporter: Reporter | None = None,
    rebuild_ledger: bool = False,
) -> RunSummary:
    """Run (or resume) every job into `run_dir`; returns the summary. Holds the run's lock.

    Refused before any work (ConfigError, StorageError, LedgerError): two jobs writing one file,
    a name too long for the filesystem, an unwritable `run_dir`, a damaged ledger. With
    `rebuild_ledger` (or when the ledger is missing but outputs have sidecars) the ledger is
    rebuilt from the sidecars first, so no finished output is redone.
    """
    run_dir = Path(run_dir)
    reporter = reporter or Reporter()
    dest = destination(run_dir, options.outputs)
    problems = output_problems([e.job for e in entries], None if dest.remote else run_dir)
    if problems:
        raise ConfigError("\n".join(problems) + "\n(nothing was run)")
    check_writable(run_dir)
    if dest.remote:
        _check_remote_writable(dest)
    try:
        lock = RunLock(run_dir).__enter__()
    except OSError as exc:
        raise StorageError(storage_message(exc, run_dir / LOCK_NAME)) from None
    try:
        remove_stale_temps(run_dir)
        rebuilt = None
        no_ledger = not (run_dir / LEDGER_NAME).exists()
        lost = no_ledger and (
            next(dest.sidecars(), None) is not None if dest.remote else has_sidecars(run_dir)
        )
        if rebuild_ledger or lost:
            rebuilt = rebuild(run_dir, dest)
            why = "" if rebuild_ledger else f" (no {LEDGER_NAME} found)"
            reporter.note(f"rebuilt the ledger from {rebuilt} output sidecar(s){why}")
        ledger = Ledger(run_dir)
        try:
            summary = _run(ledger, dest, entries, options, base_cfg, invalid or [], reporter)
            summary.rebuilt = rebuilt
            return summary
        finally:
            ledger.close()
    finally:
        lock.__exit__(None, None, None)


def _run(ledger, dest, entries, options, base_cfg, invalid, reporter) -> RunSummary:
    """Plan the run against the ledger, run what is to do, record the run's counts."""
    t0 = time.perf_counter()
    summary, todo, run_id = _plan(ledger, dest, entries, options, base_cfg, invalid)
    reporter.begin(summary.total, ledger.counts()["done"], len(todo))
    try:
        _execute(ledger, dest, todo, options, base_cfg, reporter, summary)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    except LedgerError as exc:  # the ledger cannot be written: stop, leaving no job 'running'
        summary.interrupted = True
        raise type(exc)(f"{exc}; {_stop_on_ledger_error(ledger)}") from None
    finally:
        summary.seconds = time.perf_counter() - t0
        _finish(ledger, run_id, summary)
        reporter.end()
    return summary


def _plan(ledger, dest, entries, options, base_cfg, invalid) -> tuple[RunSummary, list[Entry], int]:
    """Register the jobs, open the run's record: (summary so far, entries to run, run id)."""
    try:
        plan = ledger.sync(entries, invalid, options.retry_failed, dest)
        run_id = ledger.start_run(base_cfg.to_dict(), asdict(options))
    except LedgerError as exc:
        raise StorageError(f"{exc}; nothing was run: free some space or choose another --out") from None
    summary = RunSummary(total=len(entries) + len(invalid), skipped=plan["skipped"])
    by_id = {e.id: e for e in entries}
    return summary, [by_id[i] for i in plan["run"]], run_id


def _execute(ledger, dest, todo, options, base_cfg, reporter, summary) -> None:
    """Image jobs on the worker pool first, then video jobs one by one."""
    images_todo = [e for e in todo if e.job.kind == "image"]
    videos_todo = [e for e in todo if e.job.kind == "video"]
    if images_todo:
        ImageRun(ledger, dest, images_todo, options, base_cfg, reporter, summary).run()
        if videos_todo:
            release_workers()  # the video layer starts its own actors: free the resources
    for entry in videos_todo:
        run_video(ledger, dest, entry, options, reporter, summary)


def _check_remote_writable(dest: Destination) -> None:
    """Refuse a storage prefix that cannot be written (no bucket, no credentials, denied)."""
    try:
        storage.check_writable(dest.root)
    except OSError as exc:
        raise StorageError(f"--out: {exc}; nothing was run") from None


def _finish(ledger: Ledger, run_id: int, summary: RunSummary) -> None:
    """The run's counts into its ledger record (unless the ledger cannot be written)."""
    summary.failed = ledger.counts()["failed"]
    try:
        ledger.end_run(
            run_id,
            total=summary.total,
            skipped=summary.skipped,
            done=summary.done,
            failed=summary.failed,
            started_jobs=summary.started,
            interrupted=int(summary.interrupted),
        )
    except LedgerError:
        pass  # already said: the ledger cannot be written


def _stop_on_ledger_error(ledger: Ledger) -> str:
    """After a failed ledger write: stop the workers, then put every 'running' row back to pending
    (the space kept in reserve makes room on a full disk). Returns what the user should know."""
    release_workers()
    try:
        n = ledger.last_write("UPDATE jobs SET status='pending' WHERE status='running'")
    except LedgerError:
        return (
            "the run stopped taking new work; jobs it was running still show as running "
            "and run again next time (free some space, then rerun the same command)"
        )
    return (
        f"the run stopped taking new work; {n} job(s) in flight were put back to pending; "
        "free some space, then rerun the same command"
    )
