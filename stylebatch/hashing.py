"""Content hashes of files, cached so a big file is read once per process."""

from __future__ import annotations

import hashlib
import os

from .storage import fingerprint, is_url

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


_URL_CACHE: dict[str, str] = {}


def input_fingerprint(path: str | os.PathLike) -> str:
    """What identifies an input's contents: the sha256 of a local file, or for a storage URL a
    hash of its version metadata (ETag, version id, size), read without downloading it.

    URL answers are cached until `forget_urls()` (called when a run is prepared: objects change).
    """
    if not is_url(path):
        return file_sha256(path)
    url = str(path)
    if url not in _URL_CACHE:
        _URL_CACHE[url] = fingerprint(url)
    return _URL_CACHE[url]


def remember_url(url: str, meta: dict) -> None:
    """Take an object's fingerprint from metadata a listing already gave (no request)."""
    _URL_CACHE[str(url)] = fingerprint(str(url), meta)


def forget_urls() -> None:
    _URL_CACHE.clear()
