"""Scale checkpoints: a long job resumes at its last finished scale instead of from scratch.

The engine reports each finished scale's result (`on_scale`) and can start after a given one
(`resume`); this module keeps that result on disk between runs. The image is stored in float32,
exactly as the next scale would have received it, so a resumed job gives the same pixels as an
uninterrupted one. A checkpoint names the job it belongs to (`key`: a hash of inputs, settings
and weights); one for another job, or a damaged file, is ignored. Only jobs that have run for
CHECKPOINT_AFTER_SECONDS write one, so a night of small images writes none. They live in the
user's cache (`$XDG_CACHE_HOME/stylebatch/resume`, else `~/.cache/...`), one file per job, and
are removed when the job finishes.
"""

from __future__ import annotations

import io
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .config import CHECKPOINT_AFTER_SECONDS, user_cache
from .images import atomic_write

log = logging.getLogger("stylebatch")


def resume_dir() -> Path:
    """Where scale checkpoints are kept (the user's cache)."""
    return user_cache() / "resume"


@dataclass
class ScaleCheckpoint:
    scale: int  # index of the last finished scale (0 = coarsest)
    image: Tensor  # its result [B, 3, H, W], float32 on the CPU


class CheckpointFile:
    """One job's checkpoint at `path`, valid for the job identified by `key`."""

    def __init__(self, path: str | os.PathLike, key: str, after: float = CHECKPOINT_AFTER_SECONDS) -> None:
        self.path = Path(path)
        self.key = key
        self.after = after  # write only once the job has run this long (seconds)
        self.started = time.monotonic()

    @classmethod
    def for_job(cls, key: str, after: float = CHECKPOINT_AFTER_SECONDS) -> CheckpointFile:
        """The checkpoint of the job `key` (a hex job id) in the user's cache."""
        return cls(resume_dir() / f"{key}.pt", key, after)

    def load(self) -> ScaleCheckpoint | None:
        """The saved checkpoint of this job, or None (absent, damaged, or another job's)."""
        try:
            data = torch.load(self.path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - a damaged checkpoint only costs the time it saved
            return None
        if not isinstance(data, dict) or data.get("key") != self.key:
            return None
        return ScaleCheckpoint(int(data["scale"]), data["image"])

    def save(self, scale: int, image: Tensor) -> None:
        """Keep `image` as the result of scale `scale` (atomic: temp file, then rename)."""
        buffer = io.BytesIO()
        torch.save({"key": self.key, "scale": scale, "image": image.detach().float().cpu()}, buffer)
        atomic_write(self.path, buffer.getvalue())

    def on_scale(self, scale: int, image: Tensor) -> None:
        """The engine's `on_scale` hook: keep the scale once the job has run long enough. A
        checkpoint that cannot be written (disk full) costs only the resume, never the job."""
        if time.monotonic() - self.started < self.after:
            return
        try:
            self.save(scale, image)
        except OSError as exc:
            log.warning("could not keep a resume point at %s: %s", self.path, exc)

    def clear(self) -> None:
        """Remove the checkpoint (the job finished)."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove the resume point %s: %s", self.path, exc)
