"""The run lock: one driver per run directory at a time."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from ..errors import ConfigError

LOCK_NAME = ".lock"


class RunLock:
    """An exclusive `flock` on RUN_DIR/.lock: a second run on the same directory is refused."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 100).decode(errors="replace").strip()
            os.close(fd)
            raise ConfigError(
                f"another stylebatch run is using {self.path.parent} ({holder or 'pid unknown'}); "
                "wait for it to finish or use another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}".encode())
        self.fd = fd
        return self

    @staticmethod
    def held(run_dir: str | os.PathLike) -> bool:
        """Whether a run holds the lock now (a driver killed with -9 no longer does)."""
        path = Path(run_dir) / LOCK_NAME
        if not path.exists():
            return False
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops a shared lock we may have taken
        return False

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
