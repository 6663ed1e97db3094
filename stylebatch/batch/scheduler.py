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

from .. import storage
from ..config import StyleConfig
from ..errors import ConfigError, LedgerError, StorageError, storage_message
from .destination import Destination, destination
from .imagerun import ImageRun
from .intake import HASH_THREADS, Identities, Intake, chunks
from .jobs import Entry
from .ledger import LEDGER_NAME, Ledger
from .lock import LOCK_NAME, RunLock
from .manifest import Job, RowError, output_problems
from .options import Reporter, RunOptions, RunSummary
from .pool import release_workers, worker_stats
from .rebuild import rebuild
from .rundir import check_writable, remove_stale_temps
from .videorun import run_video

__all__ = [
    "Reporter",
    "RunOptions",
    "RunSummary",
    "prepare",
    "release_workers",
    "run_batch",
    "run_jobs",
    "worker_stats",
]


def prepare(jobs: list[Job], base_cfg: StyleConfig) -> list[Entry]:
    """Each job's effective settings and ledger id (hash of inputs, settings and weights), all at
    once (`run_jobs` makes them while the first jobs run).

    The weights every job needs are loaded here, on the driver, before any worker starts:
    missing weights fail once with the three ways out (WeightsError), not in N workers.
    """
    ids = Identities(jobs, base_cfg)
    with ThreadPoolExecutor(max_workers=HASH_THREADS) as hashers:  # file reads release the GIL
        return [e for part in hashers.map(ids.entries, chunks(jobs)) for e in part]


def run_jobs(
    run_dir: str | os.PathLike,
    jobs: list[Job],
    options: RunOptions,
    base_cfg: StyleConfig,
    invalid: list[RowError] | None = None,
    reporter: Reporter | None = None,
    rebuild_ledger: bool = False,
) -> RunSummary:
    """`run_batch` for jobs not yet prepared: their ids (input files hashed) and ledger rows are
    made chunk by chunk while the first jobs already run. Missing weights, output collisions and
    an unusable `run_dir` still refuse the run before anything starts."""
    ids = Identities(jobs, base_cfg)
    return _run_batch(run_dir, jobs, jobs, ids.made, options, base_cfg, invalid, reporter, rebuild_ledger)


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
    jobs = [e.job for e in entries]
    return _run_batch(
        run_dir,
        jobs,
        entries,
        lambda part: (list(part), []),
        options,
        base_cfg,
        invalid,
        reporter,
        rebuild_ledger,
    )


def _run_batch(
    run_dir, jobs, items, make, options, base_cfg, invalid, reporter, rebuild_ledger
) -> RunSummary:
    """Check the outputs' names over the whole run, take the lock, then run `items` as `make`
    turns them into entries."""
    run_dir = Path(run_dir)
    reporter = reporter or Reporter()
    dest = destination(run_dir, options.outputs)
    problems = output_problems(jobs, None if dest.remote else run_dir)
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
        lost = not (run_dir / LEDGER_NAME).exists() and next(dest.sidecars(), None) is not None
        if rebuild_ledger or lost:
            rebuilt = rebuild(run_dir, dest)
            why = "" if rebuild_ledger else f" (no {LEDGER_NAME} found)"
            reporter.note(f"rebuilt the ledger from {rebuilt} output sidecar(s){why}")
        ledger = Ledger(run_dir)
        try:
            summary = _run(ledger, dest, (items, make), options, base_cfg, invalid or [], reporter)
            summary.rebuilt = rebuilt
            return summary
        finally:
            ledger.close()
    finally:
        lock.__exit__(None, None, None)


def _run(ledger, dest, work, options, base_cfg, invalid, reporter) -> RunSummary:
    """Open the run's record, run what is to do as it is registered, record the run's counts."""
    t0 = time.perf_counter()
    items, make = work
    intake = None
    try:
        intake = Intake.start(ledger, dest, invalid, options.retry_failed, items, make, reporter)
        run_id = ledger.start_run(base_cfg.to_dict(), asdict(options))
    except LedgerError as exc:
        if intake is not None:
            intake.close()
        raise StorageError(f"{exc}; nothing was run: free some space or choose another --out") from None
    summary = RunSummary(total=len(items) + len(invalid))
    reporter.begin(summary.total)
    try:
        _execute(ledger, dest, intake, options, base_cfg, reporter, summary)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    except LedgerError as exc:  # the ledger cannot be written: stop, leaving no job 'running'
        summary.interrupted = True
        raise type(exc)(f"{exc}; {_stop_on_ledger_error(ledger)}") from None
    finally:
        intake.close()  # interrupted while registering: the rest is registered next time
        summary.seconds = time.perf_counter() - t0
        summary.skipped = intake.skipped
        _finish(ledger, run_id, summary)
        reporter.end()
    return summary


def _execute(ledger, dest, intake: Intake, options, base_cfg, reporter, summary) -> None:
    """Image jobs on the worker pool as they are registered, then video jobs one by one."""
    first: list[Entry] = []
    while not first and not intake.done:  # no pool is started for a run with no image to do
        first = intake.take(wait=True)
    if first:
        ImageRun(ledger, dest, first, options, base_cfg, reporter, summary, intake).run()
        intake.drain()  # the pool lost every worker: what is left stays pending for the next run
        if intake.videos:
            release_workers()  # the video layer starts its own actors: free the resources
    for entry in intake.videos:
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
