"""Housekeeping of a run directory: refuse one that cannot be written, remove a killed driver's
temp files."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from ..errors import StorageError, storage_message


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


def remove_stale_temps(run_dir: Path) -> None:
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
