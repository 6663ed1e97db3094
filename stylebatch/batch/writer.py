"""The driver's output writer: finished images and their sidecars written in a few threads.

Every write is atomic and fsynced (images.save_image), which costs milliseconds per file on
real disks; done one after another in the driver's loop that caps a run at a few dozen jobs
per second. Here the writes overlap, and their outcomes come back to the driver's thread,
which alone touches the ledger.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from .. import images

WRITE_THREADS = 8  # concurrent fsyncs: most filesystems fold them into one journal commit


class OutputWriter:
    """Submit (key, path, data, sidecar); collect (key, error or None) in the caller's thread."""

    def __init__(self, threads: int = WRITE_THREADS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="stylebatch-write")
        self._pending: dict[Future, Any] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def submit(self, key: Any, path: Path, data: bytes, sidecar: dict[str, Any]) -> None:
        self._pending[self._pool.submit(images.save_image, data, path, sidecar)] = key

    def finished(self, block: bool = False) -> list[tuple[Any, OSError | None]]:
        """Writes that have ended (all of them with `block`); an OSError is that write's failure."""
        if block and self._pending:
            wait(list(self._pending))
        out = []
        for future in [f for f in self._pending if f.done()]:
            key = self._pending.pop(future)
            exc = future.exception()
            if exc is not None and not isinstance(exc, OSError):
                raise exc
            out.append((key, exc))
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True)
