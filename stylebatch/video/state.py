"""Resume state: finished stylised frames in `run_dir/frames/` and a small SQLite table.

Rows are keyed by the run key (input hash + parameters) and the chunk's frame range, so a
changed setting or chunk plan recomputes instead of reusing stale frames.
"""

from __future__ import annotations

import hashlib
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

    def path(self, chunk: Chunk, frame: int) -> Path:
        return self.run_dir / "frames" / f"chunk{chunk.index:03d}" / f"{frame:06d}.png"

    def save(self, chunk: Chunk, frame: int, image: np.ndarray | bytes, seconds: float, losses: dict) -> Path:
        """Write the frame atomically (RGB uint8 array or PNG bytes), then record it."""
        data = image if isinstance(image, bytes) else encode(Image.fromarray(image, "RGB"), "PNG")
        path = atomic_write(self.path(chunk, frame), data)
        self.db.execute(
            "INSERT OR REPLACE INTO frames VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.key, chunk.index, chunk.tag, frame, str(path), seconds, json.dumps(losses), time.time()),
        )
        self.db.commit()
        return path

    def finished(self, chunk: Chunk) -> int:
        """How many frames of the chunk, from its first, are done (files present): resume there."""
        rows = self.db.execute(
            "SELECT frame FROM frames WHERE key = ? AND chunk = ? AND tag = ?",
            (self.key, chunk.index, chunk.tag),
        ).fetchall()
        done = {r[0] for r in rows}
        count = 0
        for frame in chunk.frames:
            if frame not in done or not self.path(chunk, frame).exists():
                break
            count += 1
        return count

    def load(self, chunk: Chunk, frame: int) -> np.ndarray:
        with Image.open(self.path(chunk, frame)) as img:
            return np.asarray(img.convert("RGB")).copy()

    def forget(self) -> None:
        """Drop this run's rows (after the output is written and frames are not kept)."""
        self.db.execute("DELETE FROM frames WHERE key = ?", (self.key,))
        self.db.commit()

    def close(self) -> None:
        self.db.close()
