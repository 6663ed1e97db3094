"""Content hashes of files, cached so a big file is read once per process."""

from __future__ import annotations

import hashlib
import os

_CACHE: dict[tuple[int, int, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's contents, cached by the file's identity (device, inode), size and
    mtime: one stat, and the same entry whatever path or symlink leads to the file."""
    st = os.stat(path)
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _CACHE[key] = digest.hexdigest()
    return _CACHE[key]
