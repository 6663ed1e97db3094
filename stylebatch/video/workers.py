"""Parallel chunks over Ray: one long-lived actor per worker keeps VGG-19 and the previous
stylised frame warm; flows and masks are Ray CPU tasks; frames travel through the object store,
a few at a time (each chunk is decoded on the driver as it goes, never the whole clip).

The driver alone writes the run directory (frames + SQLite), so resume works the same way
as in-process.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import weights
from ..batch import cluster
from ..config import StyleConfig
from . import flow as flowlib
from .chunks import Chunk
from .runner import ChunkWork, FrameInfo, FrameStylizer, needs_chain, needs_flow, with_cuts

WINDOW = 3  # frames in flight per actor: enough to hide transfers, few enough to stop quickly


class VideoWorker:
    """A Ray actor: the model and style Grams stay loaded; the chain's previous frame stays here."""

    def __init__(
        self, styles: Sequence[torch.Tensor], cfg: StyleConfig, style_weights, threads: int, shipped=None
    ) -> None:
        if threads:
            torch.set_num_threads(threads)
        weights.install(shipped)  # the driver's VGG-19 weights: no download or file on this node
        self.stylizer = FrameStylizer(styles, cfg, style_weights)

    def reset(self, previous: np.ndarray | None) -> None:
        """A new chain, or on resume the saved float state after the last finished frame."""
        self.stylizer.reset(previous)

    def frame(
        self, content: np.ndarray, flow_mask, new_shot: bool
    ) -> tuple[np.ndarray, np.ndarray, dict, float]:
        """(uint8 RGB, float chain state, losses, seconds) for one frame; a cut restarts the chain."""
        if new_shot:
            self.stylizer.reset()
        rgb, losses, seconds = self.stylizer.frame(np.array(content), flow_mask)
        return rgb, self.stylizer.chain_state(), losses, seconds


def _flow_task(current: np.ndarray, previous: np.ndarray, preset: str):
    return flowlib.flow_and_mask(current, previous, preset)


@dataclass
class _Slot:
    """One actor and the chunk it is working through."""

    actor: object
    chunk: Chunk | None = None
    frames: Iterator | None = None  # (t, rgb, new_shot) of the chunk, decoded as needed
    inflight: deque = field(default_factory=deque)  # (ref, frame, shot)
    previous: object = None  # object ref of the previous original frame (for the flow)
    shot: int = 0  # scene cuts passed in the chunk


def resources(ray, n_actors: int, cfg: StyleConfig) -> tuple[float, float, float]:
    """(cpus per actor, gpus per actor, cpus per flow task), leaving room for the flow tasks."""
    total = ray.cluster_resources()
    cpus, gpus = float(total.get("CPU", 1)), float(total.get("GPU", 0))
    actor_gpus = min(1.0, gpus / n_actors) if gpus and cfg.device != "cpu" else 0.0
    actor_cpus = 1.0 if actor_gpus or cpus >= n_actors + 1 else max(0.1, (cpus - 0.5) / n_actors)
    return actor_cpus, actor_gpus, 0.5


class _Pool:
    """The driver's side: `workers` actors, each working through one chunk at a time with up to
    WINDOW frames in flight; finished frames are saved (through `state`) in order per chunk."""

    def __init__(self, ray, work: ChunkWork, workers: int) -> None:
        cfg = work.cfg
        n_actors = max(1, min(workers, len(work.plan)))
        actor_cpus, actor_gpus, task_cpus = resources(ray, n_actors, cfg)
        threads = 0 if actor_gpus else max(1, (os.cpu_count() or 1) // n_actors)
        remote_worker = ray.remote(VideoWorker).options(num_cpus=actor_cpus, num_gpus=actor_gpus)
        self.ray, self.work = ray, work
        self.flow_task = ray.remote(_flow_task).options(num_cpus=task_cpus)
        style_refs = [s.contiguous() for s in work.styles]
        shipped = weights.share(cfg.weights)  # once, through the object store
        self.slots = [
            _Slot(remote_worker.remote(style_refs, cfg, work.style_weights, threads, shipped))
            for _ in range(n_actors)
        ]
        self.queue = deque(work.plan)
        self.want_flow, self.want_chain = needs_flow(cfg), needs_chain(cfg)

    def take_chunk(self, slot: _Slot) -> None:
        """Give `slot` the next chunk, past the frames an earlier run finished (reported as resumed)."""
        work, ray = self.work, self.ray
        while self.queue:
            chunk = self.queue.popleft()
            done = work.state.finished(chunk, self.want_chain)
            saved = work.state.chain(chunk) if done and self.want_chain else None
            frames = with_cuts(work.frames(chunk), chunk.first, work.cfg.video.cut_threshold)
            slot.previous, slot.shot = None, 0
            for t, rgb, new_shot in frames if done else ():  # decoded for cuts and the next flow
                slot.shot += new_shot
                if t >= chunk.start and work.callback:
                    work.callback(FrameInfo(t, work.total, chunk.index, slot.shot, resumed=True))
                if work.finished:
                    work.finished(chunk, t)
                if t == chunk.first + done - 1:
                    slot.previous = ray.put(rgb)
                    break
            slot.actor.reset.remote(saved[1] if saved else None)
            slot.chunk, slot.frames = chunk, frames
            return
        slot.chunk, slot.frames = None, None

    def fill(self, slot: _Slot) -> None:
        """Send `slot`'s actor frames (and their flow tasks) until WINDOW are in flight."""
        while slot.frames is not None and len(slot.inflight) < WINDOW:
            item = next(slot.frames, None)
            if item is None:
                slot.frames = None
                return
            t, rgb, new_shot = item
            slot.shot += new_shot
            ref = self.ray.put(rgb)
            flow_mask = None
            if self.want_flow and slot.previous is not None and not new_shot:
                flow_mask = self.flow_task.remote(ref, slot.previous, self.work.cfg.video.flow_preset)
            slot.inflight.append((slot.actor.frame.remote(ref, flow_mask, new_shot), t, slot.shot))
            slot.previous = ref  # the object store frees a frame once no task or ref needs it

    def collect(self, slot: _Slot, ready: list) -> None:
        """Save `slot`'s finished prefix, in order (an actor runs its calls in order)."""
        work = self.work
        while slot.inflight and (slot.inflight[0][0] in ready or _is_ready(self.ray, slot.inflight[0][0])):
            ref, t, shot = slot.inflight.popleft()
            rgb, chain, losses, seconds = _get(self.ray, ref)
            work.state.save(slot.chunk, t, rgb, seconds, losses, chain if self.want_chain else None)
            if t >= slot.chunk.start and work.callback:
                work.callback(FrameInfo(t, work.total, slot.chunk.index, shot, False, seconds, losses))
            if work.finished:
                work.finished(slot.chunk, t)

    def run(self) -> None:
        try:
            for slot in self.slots:
                self.take_chunk(slot)
                self.fill(slot)
            while any(slot.inflight for slot in self.slots):
                pending = [item[0] for slot in self.slots for item in slot.inflight]
                ready, _ = self.ray.wait(pending, num_returns=1)
                for slot in self.slots:
                    self.collect(slot, ready)
                    if not slot.inflight and slot.frames is None:
                        self.take_chunk(slot)
                    self.fill(slot)
        finally:
            for slot in self.slots:
                self.ray.kill(slot.actor)


def run_parallel(work: ChunkWork, workers: int, address: str | None = None) -> None:
    """Stylise every chunk of `work` on `workers` Ray actors, writing finished frames through
    its state; `work.finished(chunk, t)` is called as each frame is saved (in order within a chunk)."""
    _Pool(cluster.connect(address), work, workers).run()


def _is_ready(ray, ref) -> bool:
    ready, _ = ray.wait([ref], timeout=0)
    return bool(ready)


def _get(ray, ref):
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        raise exc.as_instanceof_cause() from None
