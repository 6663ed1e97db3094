"""The batch driver: jobs to Ray workers through a `ray.wait` loop, results into the ledger.

Per-job errors (a storage fault writing an output included) fail that job only; a dead worker
is replaced and its job requeued (bounded); Ctrl-C (or SIGTERM, SIGHUP) puts in-flight jobs
back to pending so the next run resumes them. Only a ledger that cannot be written stops a run.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import weights
from ..config import StyleConfig
from ..errors import ConfigError, LedgerError, StorageError, StylebatchError, storage_message
from ..hashing import file_sha256 as file_hash
from . import cluster
from . import ledger as ledgerlib
from .jobs import Entry, JobResult, JobSpec, job_params, make_entry
from .ledger import Ledger, RunLock
from .manifest import Job, RowError, output_problems
from .writer import OutputWriter

MAX_ATTEMPTS = 3  # worker deaths one job may cause before it is marked failed
IN_FLIGHT_PER_WORKER = 2  # the next job's inputs are already on the worker when one finishes
POLL_SECONDS = 0.5  # how often the driver reads the workers' progress board
HASH_THREADS = 8  # input files hashed at once while a run is prepared


@dataclass
class RunOptions:
    """How a batch run uses the cluster (the style settings live in StyleConfig)."""

    workers: int | None = None  # default: one per GPU (by gpus_per_worker), else 1 on CPU
    gpus_per_worker: float = 1.0
    address: str | None = None  # join a cluster (else RAY_ADDRESS, else an embedded local Ray)
    shared_fs: bool = False  # inputs are visible to every node by path: do not ship bytes
    skip_invalid: bool = False
    retry_failed: bool = True


@dataclass
class RunSummary:
    total: int = 0  # jobs of this run (including skipped and invalid)
    done: int = 0  # finished in this run
    skipped: int = 0  # already done by an earlier run
    failed: int = 0  # failed jobs of the run as the ledger has them now
    started: int = 0  # optimisations started in this run
    seconds: float = 0.0
    interrupted: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)
    grams_computed: int = 0
    rebuilt: int | None = None  # jobs recovered from sidecars when the ledger was rebuilt

    @property
    def per_hour(self) -> float:
        return self.done / self.seconds * 3600 if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.interrupted else 0


class Reporter:
    """Progress sink; the CLI's rich display overrides these. All no-ops here."""

    wants_progress = False

    def begin(self, total: int, done_before: int, to_run: int) -> None: ...

    def worker(self, name: str, info: dict[str, Any] | None) -> None: ...

    def finished(self, label: str, ok: bool, message: str = "") -> None: ...

    def note(self, text: str) -> None: ...

    def end(self) -> None: ...


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
    paths = sorted({p for job in jobs for p in (job.content, *job.styles)})
    with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:  # fills the per-process hash cache
        parts = (paths[i::HASH_THREADS] for i in range(HASH_THREADS))
        list(pool.map(lambda part: [file_hash(p) for p in part], parts))
    entries = []
    for job in jobs:
        cfg, params, weights_identity = shared[job.overrides]
        entries.append(make_entry(job, cfg, weights_identity, params))
    return entries


# -- the worker pool (kept per driver process, so repeated runs find VGG-19 warm) --------------


@dataclass
class _Worker:
    name: str
    handle: Any
    refs: list = field(default_factory=list)  # in-flight job refs, oldest first (runs first)
    placed: Any = None  # a replacement's first call: it takes jobs once this returns
    weights: set = field(default_factory=set)  # (spec, identity) of the weights already sent to it

    def give_weights(self, spec: str) -> None:
        """Send the driver's weights for `spec` once (actor calls run in order: before its jobs)."""
        key = (spec, weights.ensured(spec).identity)
        if key not in self.weights:
            self.handle.install.remote(weights.share(spec))
            self.weights.add(key)


_POOL: list[_Worker] = []
_POOL_KEY: tuple | None = None
_BOARD: Any = None  # the pool's ProgressBoard actor
_SERIAL = 0


def _pool_size(ray, options: RunOptions, cfg: StyleConfig) -> tuple[int, float, float, int | None]:
    """(workers, GPUs each, CPUs each, torch threads each)."""
    res = ray.cluster_resources()
    gpus = res.get("GPU", 0) if cfg.device != "cpu" else 0
    if gpus and options.gpus_per_worker > 0:
        n = options.workers or max(1, int(gpus // options.gpus_per_worker))
        if n * options.gpus_per_worker > gpus + 1e-9:  # the extra actors would never start
            raise ConfigError(
                f"--workers {n} x --gpus-per-worker {options.gpus_per_worker} needs "
                f"{n * options.gpus_per_worker:g} GPUs; the cluster has {gpus:g}"
            )
        return n, options.gpus_per_worker, 1, None
    cpus = max(1.0, res.get("CPU", 1))
    n = options.workers or 1
    return n, 0, min(1.0, cpus / n), max(1, int(cpus // n))


def _room_for_another(ray, spec: tuple, others: int) -> bool:
    """Whether the cluster as it is now (a lost node's resources gone) fits `others` + 1 workers."""
    _, gpus, cpus, _ = spec
    res = ray.cluster_resources()
    if gpus:
        return res.get("GPU", 0) >= gpus * (others + 1)
    return res.get("CPU", 0) >= cpus * (others + 1)


def _new_worker(spec: tuple, cfg: StyleConfig) -> _Worker:
    from .workers import ProgressBoard, make_worker

    global _SERIAL, _BOARD
    if _BOARD is None:
        _BOARD = ProgressBoard.remote()
    _SERIAL += 1
    name = f"w{_SERIAL}"
    _, gpus, cpus, threads = spec
    worker = _Worker(name, make_worker(name, gpus, cpus, threads, _BOARD))
    worker.give_weights(cfg.weights)
    worker.handle.warm.remote(cfg)  # builds VGG-19 while the driver ships the first inputs
    return worker


def _get_pool(ray, options: RunOptions, cfg: StyleConfig) -> list[_Worker]:
    global _POOL, _POOL_KEY
    spec = _pool_size(ray, options, cfg)
    key = (ray.get_runtime_context().get_job_id(), spec[1:])
    if key != _POOL_KEY:
        release_workers()
        _POOL_KEY = key
    alive = []
    if _POOL:
        pings = [w.handle.ping.remote() for w in _POOL]
        for w, ref in zip(_POOL, pings, strict=True):
            try:
                ray.get(ref, timeout=60)
                alive.append(w)
            except Exception:
                pass
    _POOL = alive
    while len(_POOL) < spec[0]:
        _POOL.append(_new_worker(spec, cfg))
    for w in _POOL:
        w.refs = []
    return _POOL[: spec[0]]


def release_workers() -> None:
    """Kill this process's worker actors (they otherwise live as long as the Ray session)."""
    global _POOL, _POOL_KEY, _BOARD
    if _POOL or _BOARD is not None:
        import ray

        for handle in [w.handle for w in _POOL] + ([_BOARD] if _BOARD is not None else []):
            try:
                ray.kill(handle)
            except Exception:
                pass
    _POOL, _POOL_KEY, _BOARD = [], None, None


def worker_stats() -> dict[str, dict[str, int]]:
    """Style-cache counters of the live workers (for tests and diagnostics)."""
    import ray

    return {w.name: ray.get(w.handle.stats.remote()) for w in _POOL}


# -- a run -------------------------------------------------------------------------------------


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
    problems = output_problems([e.job for e in entries], run_dir)
    if problems:
        raise ConfigError("\n".join(problems) + "\n(nothing was run)")
    check_writable(run_dir)
    try:
        lock = RunLock(run_dir).__enter__()
    except OSError as exc:
        raise StorageError(storage_message(exc, run_dir / ledgerlib.LOCK_NAME)) from None
    try:
        _remove_stale_temps(run_dir)
        rebuilt = None
        lost = not (run_dir / ledgerlib.LEDGER_NAME).exists() and ledgerlib.has_sidecars(run_dir)
        if rebuild_ledger or lost:
            rebuilt = ledgerlib.rebuild(run_dir)
            why = "" if rebuild_ledger else f" (no {ledgerlib.LEDGER_NAME} found)"
            reporter.note(f"rebuilt the ledger from {rebuilt} output sidecar(s){why}")
        ledger = Ledger(run_dir)
        try:
            summary = _run(ledger, run_dir, entries, options, base_cfg, invalid or [], reporter)
            summary.rebuilt = rebuilt
            return summary
        finally:
            ledger.close()
    finally:
        lock.__exit__(None, None, None)


def check_writable(run_dir: Path) -> None:
    """Refuse an output directory that cannot be written (read-only, no permission, full)."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=run_dir, prefix=".write-test.", suffix=".tmp")
        try:
            os.write(fd, b"x")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise StorageError(f"--out: {storage_message(exc, run_dir)}; choose a writable --out") from None


_STALE_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # images.atomic_write's temp names


def _remove_stale_temps(run_dir: Path) -> None:
    """Temp files of a driver killed mid-write (atomic_write never got to rename or unlink them).

    Called under the run's lock, so no live writer owns them.
    """
    if run_dir.is_dir():
        for path in run_dir.rglob(".*.tmp"):
            if _STALE_TEMP.match(path.name) and path.is_file():
                try:
                    path.unlink(missing_ok=True)
                except OSError:
                    pass  # a read-only corner of the run: the temp file harms nothing


def _run(ledger, run_dir, entries, options, base_cfg, invalid, reporter) -> RunSummary:
    t0 = time.perf_counter()
    try:
        plan = ledger.sync(entries, invalid, options.retry_failed, run_dir)
        run_id = ledger.start_run(base_cfg.to_dict(), asdict(options))
    except LedgerError as exc:
        raise StorageError(f"{exc}; nothing was run: free some space or choose another --out") from None
    summary = RunSummary(total=len(entries) + len(invalid), skipped=plan["skipped"])
    by_id = {e.id: e for e in entries}
    todo = [by_id[i] for i in plan["run"]]
    images_todo = [e for e in todo if e.job.kind == "image"]
    videos_todo = [e for e in todo if e.job.kind == "video"]
    reporter.begin(summary.total, ledger.counts()["done"], len(todo))
    try:
        if images_todo:
            _run_images(ledger, run_dir, images_todo, options, base_cfg, reporter, summary)
            if videos_todo:
                release_workers()  # the video layer starts its own actors: free the resources
        for entry in videos_todo:
            _run_video(ledger, run_dir, entry, options, reporter, summary)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    except LedgerError as exc:  # the ledger cannot be written: stop, leaving no job 'running'
        summary.interrupted = True
        raise type(exc)(f"{exc}; {_stop_on_ledger_error(ledger)}") from None
    finally:
        summary.seconds = time.perf_counter() - t0
        counts = ledger.counts()
        summary.failed = counts["failed"]
        summary.failures = [(_label(j), j["error"] or "") for j in ledger.jobs() if j["status"] == "failed"]
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
        reporter.end()
    return summary


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


def _label(row: dict[str, Any]) -> str:
    if row["kind"] == "invalid":
        return f"{row['source']} line {row['row']}"
    return row["output"] or row["id"]


def _run_images(ledger, run_dir, todo, options, base_cfg, reporter, summary) -> None:
    ray = cluster.connect(options.address)
    from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError, WorkerCrashedError

    died = (RayActorError, WorkerCrashedError)
    spec = _pool_size(ray, options, base_cfg)
    pool = _get_pool(ray, options, base_cfg)
    queue: deque[Entry] = deque(todo)
    crashes: Counter[str] = Counter()
    inflight: dict[Any, tuple[Entry, _Worker]] = {}
    # inputs go through the object store once per distinct file, dropped once no job needs them
    remaining = Counter(p for e in todo for p in (e.job.content, *e.job.styles))
    refs: dict[Path, Any] = {}

    def shipped(path: Path) -> Any:
        if options.shared_fs:
            return str(path)
        if path not in refs:
            try:
                refs[path] = ray.put(path.read_bytes())
            except OSError as exc:
                return exc
        return refs[path]

    def release(entry: Entry) -> None:
        for p in (entry.job.content, *entry.job.styles):
            remaining[p] -= 1
            if remaining[p] <= 0:
                refs.pop(p, None)

    def suspect(entry: Entry) -> bool:
        return crashes[entry.id] > 0

    def dispatch(w: _Worker) -> None:
        while queue and len(w.refs) < IN_FLIGHT_PER_WORKER:
            # a job that has crashed a worker runs alone: if it crashes again, nothing queued
            # behind it is lost, and a neighbour's late reply is never mistaken for its crash
            if w.refs and (suspect(queue[0]) or any(suspect(inflight[r][0]) for r in w.refs)):
                break
            entry = queue.popleft()
            inputs = [shipped(p) for p in (entry.job.content, *entry.job.styles)]
            bad = next((x for x in inputs if isinstance(x, OSError)), None)
            if bad is not None:
                ledger.mark_failed(entry.id, f"cannot read input: {bad}", attempted=False)
                release(entry)
                reporter.finished(entry.job.label, False, str(bad))
                continue
            ledger.mark_running(entry.id, w.name)
            w.give_weights(entry.cfg.weights)
            ref = w.handle.run.remote(JobSpec.of(entry, w.name), *inputs)
            w.refs.append(ref)
            inflight[ref] = (entry, w)
            summary.started += 1

    def worker_died(w: _Worker, exc: BaseException) -> None:
        crashed: Entry | None = None  # actor calls run in order: the oldest unfinished one
        for ref in w.refs:
            entry, _ = inflight.pop(ref)
            if crashed is None:
                try:  # its result may have come back just before the worker died
                    result = ray.get(ref, timeout=0)
                except Exception:
                    crashed = entry
                else:
                    release(entry)
                    _store(ledger, run_dir, entry, result, reporter, summary, writer)
                    continue
                crashes[entry.id] += 1
                n = ledger.mark_crashed(entry.id)
                if crashes[entry.id] >= MAX_ATTEMPTS:
                    msg = f"the worker died {n} times while running this job (last: {type(exc).__name__})"
                    ledger.mark_failed(entry.id, msg, attempted=False)
                    release(entry)
                    reporter.finished(entry.job.label, False, msg)
                    continue
            else:
                ledger.mark_pending([entry.id])
            queue.appendleft(entry)
        reporter.worker(w.name, None)
        index = pool.index(w)
        try:
            ray.kill(w.handle)
        except Exception:
            pass
        if len(pool) > 1 and not _room_for_another(ray, spec, len(pool) - 1):
            # its node is gone and the rest of the cluster is full: a replacement would never be
            # placed (and its jobs would wait forever), so go on with the workers left
            pool.pop(index)
            _POOL.remove(w)
            return
        new = pool[index] = _POOL[_POOL.index(w)] = _new_worker(spec, base_cfg)
        # a lost node's resources may still count for a while: the replacement can be waiting
        # for a place that never comes, so it gets jobs only once it answers
        new.placed = new.handle.ping.remote()

    def placed(w: _Worker) -> bool:
        if w.placed is not None and ray.wait([w.placed], timeout=0)[0]:
            w.placed = None
        return w.placed is None

    board_ref = None
    next_poll = 0.0
    writer = OutputWriter()
    ledger_ok = True
    try:
        while queue or inflight:
            for w in pool:
                if placed(w):
                    dispatch(w)
            if not inflight:
                waiting = [w.placed for w in pool if w.placed is not None]
                if queue and waiting:  # every worker is a replacement not yet placed
                    ray.wait(waiting, num_returns=1, timeout=POLL_SECONDS)
                    continue
                break
            ready, rest = ray.wait(list(inflight), num_returns=1, timeout=POLL_SECONDS)
            if ready and rest:  # take every result that is back, not one per round
                ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
            for ref in ready:
                if ref not in inflight:
                    continue  # already handled with its dead worker
                entry, w = inflight[ref]
                try:
                    result = ray.get(ref)
                except died as exc:
                    worker_died(w, exc)
                    continue
                except RayTaskError as exc:
                    result = JobResult(error=f"{type(exc.cause).__name__}: {exc.cause}", worker=w.name)
                inflight.pop(ref)
                w.refs.remove(ref)
                release(entry)
                _store(ledger, run_dir, entry, result, reporter, summary, writer)
                reporter.worker(w.name, None)
            for (entry, result), error in writer.finished():
                _stored(ledger, run_dir, entry, result, error, reporter, summary)
            if reporter.wants_progress and _BOARD is not None and time.monotonic() >= next_poll:
                next_poll = time.monotonic() + POLL_SECONDS
                if board_ref is not None:
                    try:
                        board = ray.get(board_ref, timeout=0)
                    except GetTimeoutError:
                        continue  # not back yet: ask again next round
                    except Exception:
                        board = {}
                    for w in pool:
                        reporter.worker(w.name, board.get(w.name) if w.refs else None)
                board_ref = _BOARD.snapshot.remote()
    except KeyboardInterrupt:
        ledger.mark_pending([e.id for e, _ in inflight.values()])
        release_workers()  # stops the optimisations in flight
        raise
    except LedgerError:
        ledger_ok = False  # outputs still land; the next run adopts them from their sidecars
        raise
    finally:  # results already back are written (and recorded), whatever stopped the loop
        try:
            for (entry, result), error in writer.finished(block=True):
                if ledger_ok:
                    _stored(ledger, run_dir, entry, result, error, reporter, summary)
        finally:
            writer.close()
    for w in [w for w in pool if w.placed is not None]:  # never placed: not needed any more
        ray.kill(w.handle)
        _POOL.remove(w)
    summary.grams_computed = sum(s["grams_computed"] for s in worker_stats().values())


def _store(ledger, run_dir, entry: Entry, result: JobResult, reporter, summary, writer: OutputWriter) -> None:
    """A worker's result: a failure is recorded now, an image goes to the writer threads."""
    if not result.ok:
        ledger.mark_failed(entry.id, result.error, worker=result.worker, node=result.node)
        reporter.finished(entry.job.label, False, result.error)
        return
    writer.submit((entry, result), run_dir / entry.job.output, result.data, result.sidecar)


def _stored(
    ledger, run_dir, entry: Entry, result: JobResult, error: OSError | None, reporter, summary
) -> None:
    """The writer is done with a result: record it as done, or as failed with the write's error."""
    label = entry.job.label
    if error is not None:  # disk full, read-only, no permission: this job's failure
        msg = storage_message(error, run_dir / entry.job.output)
        ledger.mark_failed(entry.id, msg, worker=result.worker, node=result.node)
        reporter.finished(label, False, msg)
        return
    ledger.mark_done(entry.id, result)
    summary.done += 1
    notes = "".join(f"; note: {n}" for n in result.notes)
    reporter.finished(label, True, f"{result.seconds:.1f} s{notes}")


def _run_video(ledger, run_dir: Path, entry: Entry, options: RunOptions, reporter, summary) -> None:
    """A video row: handed to `stylebatch.video.stylize_video` after the image jobs."""
    job = entry.job
    ledger.mark_running(entry.id, "driver")
    summary.started += 1
    try:
        from ..video import stylize_video
    except ImportError as exc:
        msg = f"video jobs need stylebatch.video.stylize_video, which is not available here ({exc})"
        ledger.mark_failed(entry.id, msg)
        reporter.finished(job.label, False, msg)
        return
    started = time.time()
    try:
        stylize_video(
            job.content,
            list(job.styles),
            run_dir / job.output,
            entry.cfg,
            run_dir=run_dir / "video" / entry.id,
            style_weights=list(job.style_weights) if job.style_weights else None,
            workers=options.workers,
            address=options.address,
        )
    except StylebatchError as exc:
        ledger.mark_failed(entry.id, str(exc))
        reporter.finished(job.label, False, str(exc))
        return
    except Exception as exc:  # a bug or an unexpected library error: still this job's failure
        msg = f"{type(exc).__name__}: {exc}"
        ledger.mark_failed(entry.id, msg)
        reporter.finished(job.label, False, msg)
        return
    ended = time.time()
    ledger.mark_done(
        entry.id, JobResult(started=started, ended=ended, worker="driver", seconds=ended - started)
    )
    summary.done += 1
    reporter.finished(job.label, True, f"{ended - started:.1f} s")
