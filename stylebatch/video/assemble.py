"""The output, in order and streamed: each finished frame (seams cross-faded) goes straight to
the encoder and the quality meter, alongside the original decoded once more in order.

Only a window is held: the original being written, the previous pair for the measure, and the
flows the stylising loop already computed for frames about to be written.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from . import cuts
from .chunks import Chunk, sources
from .encode import FrameEncoder
from .metrics import QualityMeter
from .runner import Flows
from .state import VideoState

FLOW_WINDOW = 64  # flows kept for frames not yet written (beyond it the measure recomputes)


class Assembler:
    """Writes frame t as soon as every chunk it needs has finished it (frames of one chunk
    finish in order); `originals` yields (index, rgb) of the selected range from its start."""

    def __init__(self, plan: list[Chunk], state: VideoState, originals, encoder: FrameEncoder,
                 meter: QualityMeter, cut_threshold: float) -> None:  # fmt: skip
        self.plan, self.state, self.encoder, self.meter = plan, state, encoder, meter
        self.originals: Iterator = iter(originals)
        self.detector = cuts.CutDetector(cut_threshold)
        self.done = {c.index: c.first for c in plan}  # next frame each chunk has not finished
        self.flows: dict[int, Flows] = {}
        self.pending: tuple[int, np.ndarray] | None = None
        self.next = 0  # frames written
        self.cuts: list[int] = []
        self.seams_shown: set[int] = set()
        self.ended = False

    def finished(self, chunk: Chunk, t: int, flows: Flows | None = None) -> None:
        self.done[chunk.index] = t + 1
        if flows is not None and self.next <= t < self.next + FLOW_WINDOW:
            self.flows[t] = flows
        self.drain()

    def _cut_between(self, after: int, upto: int) -> bool:
        return any(after < c <= upto for c in self.cuts)

    def drain(self) -> None:
        """Write every frame whose sources are finished, in order."""
        while not self.ended:
            if self.pending is None:
                item = next(self.originals, None)
                if item is None:
                    self.ended = True
                    return
                t, original = item
                new_shot = self.detector.is_cut(original)
                if new_shot:
                    self.cuts.append(t)
                self.pending = (t, original, new_shot)
            t, original, new_shot = self.pending
            owner = next((c for c in self.plan if c.owns(t)), None)
            if owner is None:
                raise RuntimeError(f"frame {t} belongs to no chunk")
            nxt = self.plan[owner.index + 1] if owner.index + 1 < len(self.plan) else None
            parts = sources(self.plan, t, nxt is not None and self._cut_between(nxt.first, t))
            if not all(self.done[c.index] > t for c, _ in parts):
                return
            if len(parts) == 1:
                frame = self.state.load(parts[0][0], t)
            else:
                mix = sum(w * self.state.load(c, t).astype(np.float32) for c, w in parts)
                frame = np.clip(np.rint(mix), 0, 255).astype(np.uint8)
            # pairs touching a cross-fade band (or the hand-over itself) are seam pairs
            seam = False
            for c in self.plan[1:]:
                if c.blend <= t <= c.start and not self._cut_between(c.first, t):
                    seam = True
                    self.seams_shown.add(c.start)
            self.encoder.write(frame)
            flows = self.flows.pop(t, None)
            self.meter.add(t, original, frame, new_shot=new_shot, seam=seam, flows=flows)
            self.pending = None
            self.next = t + 1
            for stale in [k for k in self.flows if k <= t]:
                del self.flows[stale]
