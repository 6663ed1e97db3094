"""Parallel chunks over Ray: one long-lived actor per worker keeps VGG-19 and the previous
stylised frame warm; flows and masks are Ray CPU tasks; frames travel through the object store.

The driver alone writes the run directory (frames + SQLite), so resume works the same way
as in-process.
"""

from __future__ import annotations

import io
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from .. import cluster
from ..config import StyleConfig
from . import flow as flowlib
from .chunks import Chunk
from .runner import FrameCallback, FrameInfo, FrameStylizer, needs_flow
from .state import VideoState

WINDOW = 3  # frames in flight per actor: enough to hide transfers, few enough to stop quickly


class VideoWorker:
    """A Ray actor: the model and style Grams stay loaded; the chain's previous frame stays here."""

    def __init__(self, styles: Sequence[torch.Tensor], cfg: StyleConfig, style_weights, threads: int) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.stylizer = FrameStylizer(styles, cfg, style_weights)

    def reset(self, previous_png: bytes | None) -> None:
        previous = None
        if previous_png is not None:
            previous = np.asarray(Image.open(io.BytesIO(previous_png)).convert("RGB"))
        self.stylizer.reset(previous)

    def frame(self, content: np.ndarray, flow_mask) -> tuple[bytes, dict, float]:
        rgb, losses, seconds = self.stylizer.frame(np.array(content), flow_mask)
        buf = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buf, format="PNG")  # workers return encoded images
        return buf.getvalue(), losses, seconds


def _flow_task(current: np.ndarray, previous: np.ndarray, preset: str):
    return flowlib.flow_and_mask(current, previous, preset)


@dataclass
class _Slot:
    """One actor and the chunk it is working through."""

    actor: object
    chunk: Chunk | None = None
    next: int = 0
    inflight: deque = field(default_factory=deque)  # (ref, frame)
    refs: dict = field(default_factory=dict)  # frame -> object ref of the original frame


def resources(ray, n_actors: int, cfg: StyleConfig) -> tuple[float, float, float]:
    """(cpus per actor, gpus per actor, cpus per flow task), leaving room for the flow tasks."""
    total = ray.cluster_resources()
    cpus, gpus = float(total.get("CPU", 1)), float(total.get("GPU", 0))
    actor_gpus = min(1.0, gpus / n_actors) if gpus and cfg.device != "cpu" else 0.0
    actor_cpus = 1.0 if actor_gpus or cpus >= n_actors + 1 else max(0.1, (cpus - 0.5) / n_actors)
    return actor_cpus, actor_gpus, 0.5


def run_parallel(
    frames: np.ndarray,
    chunks: list[Chunk],
    styles: Sequence[torch.Tensor],
    cfg: StyleConfig,
    style_weights,
    state: VideoState,
    total: int,
    workers: int,
    address: str | None = None,
    callback: FrameCallback | None = None,
) -> None:
    """Stylise every chunk on `workers` Ray actors, writing finished frames through `state`."""
    ray = cluster.connect(address)
    n_actors = max(1, min(workers, len(chunks)))
    actor_cpus, actor_gpus, task_cpus = resources(ray, n_actors, cfg)
    threads = 0 if actor_gpus else max(1, (os.cpu_count() or 1) // n_actors)
    remote_worker = ray.remote(VideoWorker).options(num_cpus=actor_cpus, num_gpus=actor_gpus)
    flow_task = ray.remote(_flow_task).options(num_cpus=task_cpus)
    style_refs = [s.contiguous() for s in styles]
    slots = [_Slot(remote_worker.remote(style_refs, cfg, style_weights, threads)) for _ in range(n_actors)]
    queue = deque(chunks)
    preset = cfg.video.flow_preset
    want_flow = needs_flow(cfg)

    def frame_ref(slot: _Slot, t: int):
        if t not in slot.refs:
            slot.refs[t] = ray.put(frames[t])
        return slot.refs[t]

    def take_chunk(slot: _Slot) -> None:
        while queue:
            chunk = queue.popleft()
            done = state.finished(chunk)
            for t in chunk.frames[:done]:
                if t >= chunk.start and callback:
                    callback(FrameInfo(t, total, chunk.index, chunk.shot, resumed=True))
            if done == len(chunk.frames):
                continue
            previous = state.path(chunk, chunk.first + done - 1).read_bytes() if done else None
            slot.actor.reset.remote(previous)
            slot.chunk, slot.next, slot.refs = chunk, chunk.first + done, {}
            return
        slot.chunk = None

    def fill(slot: _Slot) -> None:
        chunk = slot.chunk
        while chunk is not None and len(slot.inflight) < WINDOW and slot.next < chunk.end:
            t = slot.next
            flow_mask = None
            if want_flow and t > chunk.first:
                flow_mask = flow_task.remote(frame_ref(slot, t), frame_ref(slot, t - 1), preset)
            slot.inflight.append((slot.actor.frame.remote(frame_ref(slot, t), flow_mask), t))
            slot.refs.pop(t - 1, None)  # the object store frees it once the tasks using it finish
            slot.next += 1

    try:
        for slot in slots:
            take_chunk(slot)
            fill(slot)
        while any(slot.inflight for slot in slots):
            pending = [ref for slot in slots for ref, _ in slot.inflight]
            ready, _ = ray.wait(pending, num_returns=1)
            for slot in slots:
                # an actor runs its calls in order: handle its finished prefix, in order
                while slot.inflight and (slot.inflight[0][0] in ready or _is_ready(ray, slot.inflight[0][0])):
                    ref, t = slot.inflight.popleft()
                    png, losses, seconds = _get(ray, ref)
                    state.save(slot.chunk, t, png, seconds, losses)
                    if t >= slot.chunk.start and callback:
                        callback(
                            FrameInfo(t, total, slot.chunk.index, slot.chunk.shot, False, seconds, losses)
                        )
                if not slot.inflight and slot.chunk is not None and slot.next >= slot.chunk.end:
                    take_chunk(slot)
                fill(slot)
    finally:
        for slot in slots:
            ray.kill(slot.actor)


def _is_ready(ray, ref) -> bool:
    ready, _ = ray.wait([ref], timeout=0)
    return bool(ready)


def _get(ray, ref):
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        raise exc.as_instanceof_cause() from None
