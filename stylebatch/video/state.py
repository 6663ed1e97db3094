"""Resume state: finished stylised frames in `run_dir/frames/`, each chunk's float chain state,
and a small SQLite table.

Frames are 8-bit PNGs (lossless for what is encoded); the float frame the next one starts from
is kept per chunk (`chain.npy`, the latest only), so a resumed chain continues exactly where it
stopped. Rows are keyed by the run key (input hash + parameters) and the chunk's frame range,
so a changed setting or chunk plan recomputes instead of reusing stale frames.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..images import atomic_write, encode
from .chunks import Chunk

SCHEMA = """
CREATE TABLE IF NOT EXISTS frames (
    key TEXT NOT NULL,
    chunk INTEGER NOT NULL,
    tag TEXT NOT NULL,
    frame INTEGER NOT NULL,
    path TEXT NOT NULL,
    seconds REAL,
    losses TEXT,
    finished REAL,
    PRIMARY KEY (key, chunk, tag, frame)
)
"""


def run_key(parts: dict[str, Any]) -> str:
    """A short hash of everything that changes the stylised frames."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.blake2b(blob, digest_size=12).hexdigest()


class VideoState:
    """The finished frames of one run; only the driver writes (one connection, WAL)."""

    def __init__(self, run_dir: str | os.PathLike, key: str) -> None:
        self.run_dir = Path(run_dir)
        self.key = key
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.run_dir / "video.sqlite", timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(SCHEMA)
        self.db.commit()

    def _dir(self, chunk: Chunk) -> Path:
        return self.run_dir / "frames" / f"chunk{chunk.index:03d}"

    def path(self, chunk: Chunk, frame: int) -> Path:
        return self._dir(chunk) / f"{frame:06d}.png"

    def save(
        self,
        chunk: Chunk,
        frame: int,
        image: np.ndarray,
        seconds: float,
        losses: dict,
        chain: np.ndarray | None = None,
    ) -> Path:
        """Write the frame (RGB uint8) atomically, record it, then keep `chain`: the float state
        the chunk's next frame starts from."""
        path = atomic_write(self.path(chunk, frame), encode(Image.fromarray(image, "RGB"), "PNG"))
        self.db.execute(
            "INSERT OR REPLACE INTO frames VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.key, chunk.index, chunk.tag, frame, str(path), seconds, json.dumps(losses), time.time()),
        )
        self.db.commit()
        if chain is not None:  # after the row: a saved state never runs ahead of the frames
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(chain, dtype=np.float32))
            header = f"{self.key} {chunk.tag} {frame}\n".encode()
            atomic_write(self._dir(chunk) / "chain.npy", header + buf.getvalue())
        return path

    def chain(self, chunk: Chunk) -> tuple[int, np.ndarray] | None:
        """(frame, float state after it) saved for the chunk, or None."""
        try:
            data = (self._dir(chunk) / "chain.npy").read_bytes()
            header, _, body = data.partition(b"\n")
            key, tag, frame = header.decode().split()
            if (key, tag) != (self.key, chunk.tag):
                return None
            return int(frame), np.load(io.BytesIO(body))
        except (OSError, ValueError, UnicodeDecodeError):
            return None

    def finished(self, chunk: Chunk, need_chain: bool = True) -> int:
        """How many frames of the chunk, from its first, are done (files present, and the float
        state after the last of them kept when `need_chain`): resume after them."""
        rows = self.db.execute(
            "SELECT frame FROM frames WHERE key = ? AND chunk = ? AND tag = ?",
            (self.key, chunk.index, chunk.tag),
        ).fetchall()
        done = {r[0] for r in rows}
        count = 0
        while chunk.first + count in done and self.path(chunk, chunk.first + count).exists():
            if chunk.end is not None and chunk.first + count >= chunk.end:
                break
            count += 1
        if need_chain and count:
            saved = self.chain(chunk)
            count = 0 if saved is None else min(count, saved[0] - chunk.first + 1)
        return max(0, count)

    def load(self, chunk: Chunk, frame: int) -> np.ndarray:
        with Image.open(self.path(chunk, frame)) as img:
            return np.asarray(img.convert("RGB")).copy()

    def forget(self) -> None:
        """Drop this run's rows (after the output is written and frames are not kept)."""
        self.db.execute("DELETE FROM frames WHERE key = ?", (self.key,))
        self.db.commit()

    def close(self) -> None:
        self.db.close()
