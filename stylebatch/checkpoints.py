"""Checkpoints: a long job resumes where it was stopped instead of from scratch.

The engine reports each finished scale's result (`on_scale`) and, inside a scale, its state
after every step (`on_step`: the image, the optimiser's state, Adam's average); it can go on
from either (`resume`). This module keeps the latest on disk between runs: a finished scale
when it ends, a scale in progress every CHECKPOINT_EVERY_SECONDS (a print-size scale can take
hours on a CPU). Everything is stored as the optimisation holds it (float32, the optimiser's
exact state), so a resumed job gives the same pixels as an uninterrupted one. A checkpoint
names the job it belongs to (`key`: a hash of inputs, settings and weights); one for another
job, or a damaged file, is ignored. Only jobs that have run for CHECKPOINT_AFTER_SECONDS write
one, so a night of small images writes none. They live in the user's cache
(`$XDG_CACHE_HOME/stylebatch/resume`, else `~/.cache/...`), one file per job, and are removed
when the job finishes.
"""

from __future__ import annotations

import io
import logging
import os
import time
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import Tensor

from .config import CHECKPOINT_AFTER_SECONDS, CHECKPOINT_EVERY_SECONDS, user_cache
from .engine.datatypes import ScaleState
from .images import atomic_write

log = logging.getLogger("stylebatch")


def resume_dir() -> Path:
    """Where scale checkpoints are kept (the user's cache)."""
    return user_cache() / "resume"


@dataclass
class ScaleCheckpoint:
    scale: int  # index of the last finished scale (0 = coarsest), or of the one in progress
    image: Tensor  # its result [B, 3, H, W] (in progress: the current image), float32 on the CPU
    state: ScaleState | None = None  # a scale in progress: where to go on from

    @property
    def resume(self) -> tuple[int, Tensor] | ScaleState:
        """What `stylize_tensors(resume=...)` takes."""
        return self.state if self.state is not None else (self.scale, self.image)


class CheckpointFile:
    """One job's checkpoint at `path`, valid for the job identified by `key`."""

    def __init__(
        self,
        path: str | os.PathLike,
        key: str,
        after: float = CHECKPOINT_AFTER_SECONDS,
        every: float = CHECKPOINT_EVERY_SECONDS,
    ) -> None:
        self.path = Path(path)
        self.key = key
        self.after = after  # write only once the job has run this long (seconds)
        self.every = every  # inside a scale: at most this often
        self.started = time.monotonic()
        self.saved = self.started

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
        state = data.get("state")
        if isinstance(state, dict):
            try:
                return ScaleCheckpoint(int(data["scale"]), state["image"], ScaleState(**state))
            except (TypeError, KeyError):
                return None
        return ScaleCheckpoint(int(data["scale"]), data["image"])

    def save(self, scale: int, image: Tensor) -> None:
        """Keep `image` as the result of scale `scale` (atomic: temp file, then rename)."""
        self._write({"key": self.key, "scale": scale, "image": image.detach().float().cpu()})

    def save_state(self, state: ScaleState) -> None:
        """Keep a scale in progress (atomic, as `save`)."""
        # torch.save copies the values as it writes (device tensors load back with map_location)
        kept = {f.name: getattr(state, f.name) for f in fields(ScaleState)}
        self._write({"key": self.key, "scale": state.scale, "state": kept})

    def _write(self, data: dict) -> None:
        buffer = io.BytesIO()
        torch.save(data, buffer)
        atomic_write(self.path, buffer.getvalue())
        self.saved = time.monotonic()

    def on_scale(self, scale: int, image: Tensor) -> None:
        """The engine's `on_scale` hook: keep the scale once the job has run long enough. A
        checkpoint that cannot be written (disk full) costs only the resume, never the job."""
        if time.monotonic() - self.started < self.after:
            return
        self._keep(self.save, scale, image)

    def on_step(self, state: ScaleState) -> None:
        """The engine's `on_step` hook: keep the scale in progress every `every` seconds once
        the job has run long enough (a failed write, as in `on_scale`, only logs)."""
        now = time.monotonic()
        if now - self.started < self.after or now - self.saved < self.every:
            return
        self._keep(self.save_state, state)

    def _keep(self, write, *args) -> None:
        try:
            write(*args)
        except OSError as exc:
            log.warning("could not keep a resume point at %s: %s", self.path, exc)

    def clear(self) -> None:
        """Remove the checkpoint (the job finished)."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove the resume point %s: %s", self.path, exc)
