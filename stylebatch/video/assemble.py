"""The output, in order and streamed: each finished frame (seams cross-faded) goes straight to
the encoder and the quality meter, alongside the original decoded once more in order.

Only a window is held: the original being written, the previous pair for the measure, and the
flows the stylising loop already computed for frames about to be written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from . import cuts
from .chunks import Chunk, sources
from .encode import FrameEncoder
from .metrics import QualityMeter
from .runner import Flows
from .state import VideoState

FLOW_WINDOW = 64  # flows kept for frames not yet written (beyond it the measure recomputes)
BLEND_SIGMA = 2.0  # px: below this scale a cross-fade keeps the texture's contrast


def cross_fade(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) a + weight b for the coarse image; the fine texture mixed the same way, then
    rescaled to the contrast the two frames have (interpolated).

    A plain mix of two unrelated textures loses fine-detail energy halfway (measured: detail
    0.67x the clip's median mid-band), a visible dip; this is the variance-preserving blend of
    by-example noise (Heitz & Neyret 2018) with the correlation measured, not assumed.
    """
    x, y = a.astype(np.float32), b.astype(np.float32)
    low_x = cv2.GaussianBlur(x, (0, 0), BLEND_SIGMA)
    low_y = cv2.GaussianBlur(y, (0, 0), BLEND_SIGMA)
    hx, hy = x - low_x, y - low_y
    high = (1.0 - weight) * hx + weight * hy
    actual, target = float(high.std()), (1.0 - weight) * float(hx.std()) + weight * float(hy.std())
    if actual > 1e-6:
        high *= target / actual
    out = (1.0 - weight) * low_x + weight * low_y + high
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class Assembler:
    """Writes frame t as soon as every chunk it needs has finished it (frames of one chunk
    finish in order); `originals` yields (index, rgb) of the selected range from its start."""

    def __init__(
        self,
        plan: list[Chunk],
        state: VideoState,
        originals: Iterable[tuple[int, np.ndarray]],
        encoder: FrameEncoder,
        meter: QualityMeter,
        cut_threshold: float,
    ) -> None:
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
                (a, _), (b, wb) = ((self.state.load(c, t), w) for c, w in parts)
                frame = cross_fade(a, b, wb)
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
