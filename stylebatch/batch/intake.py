"""A run's jobs made runnable as a stream, so the first ones start while a big manifest is still
being hashed and registered.

Everything that can refuse a run (bad rows, two jobs on one output, missing weights) is decided
before the intake starts, over names and settings only. What streams is the expensive part:
each job's id (its input files hashed, in a thread pool, chunk by chunk in manifest order) and
its ledger row (each chunk one transaction on the driver's thread). A run stopped between
chunks leaves whole chunks registered; the next run registers the rest, and no job twice.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .. import weights
from ..config import StyleConfig
from ..errors import InputError
from .destination import Destination
from .jobs import Entry, job_params, make_entry, params_json
from .ledger import Ledger
from .manifest import Job, RowError
from .options import Reporter
from .resume import Sync

HASH_THREADS = 8  # chunks hashed at once (file reads and hashlib release the GIL)
FIRST_CHUNK = 16  # jobs in the first chunk: the workers get work as soon as it is registered
CHUNK = 1000  # jobs per later chunk, one ledger transaction each
# the hashing threads' niceness (Linux: per thread): registration is background work that must
# not slow the workers starting or running on the same machine, nor `stylebatch status`
BACKGROUND_NICE = 10

# a chunk's entries, and a RowError (its `raw` the job's label) per job whose inputs could not be read
Made = tuple[list[Entry], list[RowError]]


class Identities:
    """What the jobs with the same overrides share: their config, settings text and weights.

    Made before anything runs: it loads every weights spec the jobs need, so missing weights
    fail once, here (WeightsError), not in N workers.
    """

    def __init__(self, jobs: Iterable[Job], base_cfg: StyleConfig) -> None:
        configs: dict[tuple, StyleConfig] = {}
        for job in jobs:
            if job.overrides not in configs:
                configs[job.overrides] = job.config(base_cfg)
        for spec in dict.fromkeys(cfg.weights for cfg in configs.values()):
            weights.ensure(spec)
        self.shared = {
            key: (cfg, params_json(job_params(cfg)), weights.resolve(cfg.weights).identity)
            for key, cfg in configs.items()
        }

    def entries(self, jobs: Sequence[Job], errors: list[RowError] | None = None) -> list[Entry]:
        """Each job's entry (its input files hashed). A job whose inputs cannot be read is a
        RowError in `errors` when given; without `errors` the OSError is raised."""
        out = []
        for job in jobs:
            cfg, params, weights_identity = self.shared[job.overrides]
            try:
                out.append(make_entry(job, cfg, weights_identity, params))
            except (OSError, InputError) as exc:  # a file or object gone since the manifest was read
                if errors is None:
                    raise
                errors.append(RowError(job.source, job.row, "input", _unreadable(exc), job.label))
        return out

    def made(self, jobs: Sequence[Job]) -> Made:
        errors: list[RowError] = []
        return self.entries(jobs, errors), errors


def _unreadable(exc: OSError | InputError) -> str:
    if isinstance(exc, InputError):
        return str(exc)
    what = f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
    return f"cannot read {what}"


def _background() -> None:
    """Lower this thread's priority (Linux sets niceness per thread; elsewhere nothing changes)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except (AttributeError, OSError):
        pass


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """`items` in manifest order: a small first chunk, then CHUNK at a time."""
    start = 0
    while start < len(items):
        size = FIRST_CHUNK if start == 0 else CHUNK
        yield items[start : start + size]
        start += size


class Intake:
    """Chunks made in a thread pool, registered one at a time by `take` on the driver's thread.

    `take` gives the image entries to run; video entries wait in `videos` (the video layer runs
    after the images). `done` once every chunk is registered.
    """

    def __init__(
        self,
        sync: Sync,
        items: Sequence[Any],
        make: Callable[[Sequence[Any]], Made],
        reporter: Reporter,
    ) -> None:
        self.sync, self.reporter = sync, reporter
        self.pool = ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="intake", initializer=_background)
        self.chunks = iter(chunks(items))
        self.make = make
        self.ahead: deque[Future[Made]] = deque()
        self.videos: list[Entry] = []
        self.to_run = 0
        self.done = self.stopping = False
        self._submit()
        if not self.ahead:
            self._finish()

    @classmethod
    def start(
        cls,
        ledger: Ledger,
        dest: Destination | Path,
        invalid: list[RowError],
        retry_failed: bool,
        items: Sequence[Any],
        make: Callable[[Sequence[Any]], Made],
        reporter: Reporter,
    ) -> Intake:
        """Read what earlier runs left, record the bad rows, start hashing the first chunks."""
        sync = Sync(ledger, retry_failed, dest)
        sync.begin(invalid)
        return cls(sync, items, make, reporter)

    @property
    def skipped(self) -> int:
        return self.sync.plan.skipped

    def _submit(self) -> None:
        """Keep a few chunks ahead of registration (memory stays bounded by the pool's width)."""
        while len(self.ahead) < HASH_THREADS + 1:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.ahead.append(self.pool.submit(self._make, chunk))

    def _make(self, chunk: Sequence[Any]) -> Made:
        return ([], []) if self.stopping else self.make(chunk)

    def take(self, wait: bool = False) -> list[Entry]:
        """Register the next chunk if it is made (waiting for it if `wait`); its image entries to
        run. [] when none is ready; once every chunk is registered, `done` is set."""
        if self.done or not (wait or self.ahead[0].done()):
            return []
        entries, unreadable = self.ahead.popleft().result()
        self._submit()
        run = set(self.sync.add(entries, unreadable))
        for err in unreadable:
            self.reporter.finished(err.raw, False, err.problem)  # raw: the job's label
        todo = [e for e in entries if e.id in run]
        self.to_run += len(todo)
        self.videos += [e for e in todo if e.job.kind == "video"]
        if not self.ahead:
            self._finish()
        return [e for e in todo if e.job.kind == "image"]

    def _finish(self) -> None:
        self.done = True
        self.close()
        self.reporter.registered(self.skipped, self.to_run)

    def drain(self) -> None:
        """Register every chunk left (their image entries are not run: the caller has none)."""
        while not self.done:
            self.take(wait=True)

    def close(self) -> None:
        """Stop making chunks (a run stopped while registering): what is not registered is not run."""
        self.stopping = True  # a chunk being made ends early; the queued ones are cancelled
        self.pool.shutdown(wait=True, cancel_futures=True)
