"""The image jobs of a run: dispatched to the worker pool, collected through a `ray.wait` loop.

Each worker has up to IN_FLIGHT_PER_WORKER jobs queued (its next inputs are already there when
one finishes); a dead worker's running job is requeued (at most MAX_ATTEMPTS crashes) and the
worker replaced; results go to the writer threads, then into the ledger.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

from ..config import StyleConfig
from ..errors import LedgerError, storage_message
from ..storage import Url
from . import cluster, pool
from .destination import Destination
from .intake import Intake
from .jobs import Entry, JobResult, JobSpec
from .ledger import Ledger
from .options import Reporter, RunOptions, RunSummary
from .pool import Worker
from .writer import OutputWriter

MAX_ATTEMPTS = 3  # worker deaths one job may cause before it is marked failed
IN_FLIGHT_PER_WORKER = 2  # the next job's inputs are already on the worker when one finishes
POLL_SECONDS = 0.5  # how often the driver reads the workers' progress board


class ImageRun:
    """One run's image jobs: the queue, the jobs in flight, their inputs in the object store.
    `run()` returns once every result (or failure) is in the ledger."""

    def __init__(
        self,
        ledger: Ledger,
        dest: Destination,
        todo: list[Entry],
        options: RunOptions,
        base_cfg: StyleConfig,
        reporter: Reporter,
        summary: RunSummary,
        intake: Intake | None = None,
    ) -> None:
        self.intake = intake  # more jobs as they are registered (None: `todo` is all)
        self.ray = cluster.connect(options.address)
        self.ledger, self.dest, self.options, self.cfg = ledger, dest, options, base_cfg
        self.reporter, self.summary = reporter, summary
        self.spec = pool.pool_size(self.ray, options, base_cfg)
        self.pool = pool.get_pool(self.ray, self.spec, base_cfg)
        self.queue: deque[Entry] = deque(todo)
        self.crashes: Counter[str] = Counter()
        self.inflight: dict[Any, tuple[Entry, Worker]] = {}
        # inputs go through the object store once per distinct file, dropped once no job needs them
        self.remaining = Counter(p for e in todo for p in (e.job.content, *e.job.styles))
        self.refs: dict[Path, Any] = {}
        self.writer = OutputWriter()
        self.board_ref: Any = None
        self.next_poll = 0.0

    # -- the loop ----------------------------------------------------------------------------

    def registering(self) -> bool:
        return self.intake is not None and not self.intake.done

    def _feed(self) -> None:
        """Register the next chunk of jobs if it is ready (waiting for it when idle)."""
        if self.registering():
            for entry in self.intake.take(wait=not self.queue and not self.inflight):
                self.queue.append(entry)
                self.remaining.update((entry.job.content, *entry.job.styles))

    def run(self) -> None:
        ledger_ok = True
        try:
            while self.queue or self.inflight or self.registering():
                self._feed()
                for w in self.pool:
                    if self._placed(w):
                        self._dispatch(w)
                if not self.inflight:
                    waiting = [w.placed for w in self.pool if w.placed is not None]
                    if self.queue and waiting:  # every worker is a replacement not yet placed
                        self.ray.wait(waiting, num_returns=1, timeout=POLL_SECONDS)
                        continue
                    if self.queue or not self.registering():
                        break  # no worker can take the queue
                    continue
                self._collect()
                for (entry, result), error in self.writer.finished():
                    self._stored(entry, result, error)
                self._poll_progress()
        except KeyboardInterrupt:
            self.ledger.mark_pending([e.id for e, _ in self.inflight.values()])
            pool.release_workers()  # stops the optimisations in flight
            raise
        except LedgerError:
            ledger_ok = False  # outputs still land; the next run adopts them from their sidecars
            raise
        finally:  # results already back are written (and recorded), whatever stopped the loop
            try:
                for (entry, result), error in self.writer.finished(block=True):
                    if ledger_ok:
                        self._stored(entry, result, error)
            finally:
                self.writer.close()
        pool.drop_unplaced(self.ray, self.pool)

    def _collect(self) -> None:
        """Take every result that is back (waiting up to POLL_SECONDS for the first)."""
        from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

        ready, rest = self.ray.wait(list(self.inflight), num_returns=1, timeout=POLL_SECONDS)
        if ready and rest:  # take every result that is back, not one per round
            ready += self.ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        for ref in ready:
            if ref not in self.inflight:
                continue  # already handled with its dead worker
            entry, w = self.inflight[ref]
            try:
                result = self.ray.get(ref)
            except (RayActorError, WorkerCrashedError) as exc:
                self._worker_died(w, exc)
                continue
            except RayTaskError as exc:
                result = JobResult(error=f"{type(exc.cause).__name__}: {exc.cause}", worker=w.name)
            self.inflight.pop(ref)
            w.refs.remove(ref)
            self._release(entry)
            self._store(entry, result)
            self.reporter.worker(w.name, None)

    def _poll_progress(self) -> None:
        """Ask the progress board every POLL_SECONDS; show its last answer once it is back."""
        from ray.exceptions import GetTimeoutError

        board = pool.POOL.board
        if not self.reporter.wants_progress or board is None or time.monotonic() < self.next_poll:
            return
        self.next_poll = time.monotonic() + POLL_SECONDS
        if self.board_ref is not None:
            try:
                posted = self.ray.get(self.board_ref, timeout=0)
            except GetTimeoutError:
                return  # not back yet: ask again next round
            except Exception:
                posted = {}
            for w in self.pool:
                self.reporter.worker(w.name, posted.get(w.name) if w.refs else None)
        self.board_ref = board.snapshot.remote()

    # -- jobs to workers -----------------------------------------------------------------------

    def _placed(self, w: Worker) -> bool:
        if w.placed is not None and self.ray.wait([w.placed], timeout=0)[0]:
            w.placed = None
        return w.placed is None

    def _suspect(self, entry: Entry) -> bool:
        return self.crashes[entry.id] > 0

    def _runs_alone(self, w: Worker) -> bool:
        """Whether the next job, or one in flight on `w`, has crashed a worker (so must run alone)."""
        return self._suspect(self.queue[0]) or any(self._suspect(self.inflight[r][0]) for r in w.refs)

    def _dispatch(self, w: Worker) -> None:
        while self.queue and len(w.refs) < IN_FLIGHT_PER_WORKER:
            # a job that has crashed a worker runs alone: if it crashes again, nothing queued
            # behind it is lost, and a neighbour's late reply is never mistaken for its crash
            if w.refs and self._runs_alone(w):
                break
            entry = self.queue.popleft()
            inputs = [self._shipped(p) for p in (entry.job.content, *entry.job.styles)]
            bad = next((x for x in inputs if isinstance(x, OSError)), None)
            if bad is not None:
                self.ledger.mark_failed(entry.id, f"cannot read input: {bad}", attempted=False)
                self._release(entry)
                self.reporter.finished(entry.job.label, False, str(bad))
                continue
            self.ledger.mark_running(entry.id, w.name)
            w.give_weights(entry.cfg.weights)
            spec = JobSpec.of(entry, w.name, self._destination(entry))
            ref = w.handle.run.remote(spec, *inputs)
            w.refs.append(ref)
            self.inflight[ref] = (entry, w)
            self.summary.started += 1

    def _destination(self, entry: Entry) -> str:
        """The storage URL the worker writes the output to; '' when the driver writes it."""
        return str(self.dest.location(entry.job.output)) if self.dest.remote else ""

    def _shipped(self, path: Path | Url) -> Any:
        """The input as the worker gets it: a URL or a path it reads itself (storage, shared
        filesystem), or bytes in the object store."""
        if self.options.shared_fs or isinstance(path, Url):
            return str(path)
        if path not in self.refs:
            try:
                self.refs[path] = self.ray.put(path.read_bytes())
            except OSError as exc:
                return exc
        return self.refs[path]

    def _release(self, entry: Entry) -> None:
        for p in (entry.job.content, *entry.job.styles):
            self.remaining[p] -= 1
            if self.remaining[p] <= 0:
                self.refs.pop(p, None)

    def _worker_died(self, w: Worker, exc: BaseException) -> None:
        crashed: Entry | None = None  # actor calls run in order: the oldest unfinished one
        for ref in w.refs:
            entry, _ = self.inflight.pop(ref)
            if crashed is None:
                try:  # its result may have come back just before the worker died
                    result = self.ray.get(ref, timeout=0)
                except Exception:
                    crashed = entry
                else:
                    self._release(entry)
                    self._store(entry, result)
                    continue
                if self._crashed_too_often(entry, exc):
                    continue
            else:
                self.ledger.mark_pending([entry.id])
            self.queue.appendleft(entry)
        self.reporter.worker(w.name, None)
        pool.replace_worker(self.ray, self.pool, w, self.spec, self.cfg)

    def _crashed_too_often(self, entry: Entry, exc: BaseException) -> bool:
        """Count a crash of `entry`; past MAX_ATTEMPTS it is failed (True), else it runs again."""
        self.crashes[entry.id] += 1
        n = self.ledger.mark_crashed(entry.id)
        if self.crashes[entry.id] < MAX_ATTEMPTS:
            return False
        msg = f"the worker died {n} times while running this job (last: {type(exc).__name__})"
        self.ledger.mark_failed(entry.id, msg, attempted=False)
        self._release(entry)
        self.reporter.finished(entry.job.label, False, msg)
        return True

    # -- results to the ledger -----------------------------------------------------------------

    def _store(self, entry: Entry, result: JobResult) -> None:
        """A worker's result: a failure is recorded now, an image goes to the writer threads."""
        if not result.ok:
            self.ledger.mark_failed(entry.id, result.error, worker=result.worker, node=result.node)
            self.reporter.finished(entry.job.label, False, result.error)
            return
        if self.dest.remote:  # the worker has written the output and its sidecar
            self._stored(entry, result, None)
            return
        self.writer.submit((entry, result), self.dest.root / entry.job.output, result.data, result.sidecar)

    def _stored(self, entry: Entry, result: JobResult, error: OSError | None) -> None:
        """The writer is done with a result: record it as done, or as failed with the write's error."""
        label = entry.job.label
        if error is not None:  # disk full, read-only, no permission: this job's failure
            msg = storage_message(error, self.dest.root / entry.job.output)
            self.ledger.mark_failed(entry.id, msg, worker=result.worker, node=result.node)
            self.reporter.finished(label, False, msg)
            return
        self.ledger.mark_done(entry.id, result)
        self.summary.done += 1
        notes = "".join(f"; note: {n}" for n in result.notes)
        self.reporter.finished(label, True, f"{result.seconds:.1f} s{notes}")
