"""Errors users can act on. The CLI prints their message (no traceback) and exits with `exit_code`."""

from __future__ import annotations

import errno
import os
from pathlib import Path


class StylebatchError(Exception):
    """Base of every error stylebatch reports to users as a plain message."""

    exit_code = 1


class ConfigError(StylebatchError):
    """A bad pipeline, setting or option: a usage error."""

    exit_code = 2


class WeightsError(StylebatchError):
    """VGG-19 weights missing, unreadable or of the wrong shape."""

    exit_code = 2


class InputError(StylebatchError):
    """An input file (image, manifest, video) that cannot be used; names the file and the cause."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def check_input_file(path: Path, label: object, kind: str) -> None:
    """Raise the InputError a user can act on for a path that is missing, a folder or empty."""
    if not path.exists():
        raise InputError(label, "file not found")
    if path.is_dir():
        raise InputError(label, f"is a directory, not {kind}")
    if path.stat().st_size == 0:
        raise InputError(label, "empty file (0 bytes)")


class StorageError(StylebatchError):
    """The run directory cannot be written (disk full, read-only, no permission)."""

    exit_code = 2


class LedgerError(StylebatchError):
    """The ledger is damaged or cannot be read; the message names the way out."""

    exit_code = 2


class LedgerWriteError(LedgerError):
    """The ledger could not be written during a run (disk full, read-only): the run stops."""

    exit_code = 1


def free_space(path: str | os.PathLike) -> str:
    """Free space on the filesystem holding `path` (or its nearest existing parent), readable."""
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        st = os.statvfs(p)
    except OSError:
        return "free space unknown"
    free = st.f_bavail * st.f_frsize
    for unit in ("bytes", "KB", "MB", "GB"):
        if free < 1024 or unit == "GB":
            return f"{free:.0f} {unit} free" if unit == "bytes" else f"{free:.1f} {unit} free"
        free /= 1024
    return ""


def storage_message(exc: OSError, path: str | os.PathLike) -> str:
    """One line for a failed write: the path, the cause (errno name) and the free space there."""
    code = errno.errorcode.get(exc.errno or 0, "")
    cause = exc.strerror or str(exc)
    return f"cannot write {path}: {cause}" + (f" ({code}; {free_space(path)})" if code else "")


def os_message(exc: OSError) -> str:
    """One line for an unexpected OSError: the path, the cause, the errno name (free space when
    the disk is full)."""
    code = errno.errorcode.get(exc.errno or 0, "")
    where = f"{exc.filename}: " if exc.filename else ""
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT) and exc.filename
    extra = f"{code}; {free_space(exc.filename)}" if full else code
    return f"{where}{exc.strerror or exc}" + (f" ({extra})" if extra else "")
