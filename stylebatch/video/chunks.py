"""Splitting a clip into contiguous chunks for parallel workers, and cross-fading their seams.

Chunks are planned from the container's frame count (a hint: the last chunk runs to the end of
the stream, however long it really is). A scene cut inside a chunk restarts its chain there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import VideoConfig


@dataclass(frozen=True)
class Chunk:
    """Frames [start, end) belong to this chunk (end None: to the end of the stream); it runs
    from `first` (<= start): `settle` frames of warm-up, then the cross-fade band [blend, start)
    shared with the previous chunk. The first chunk has first == start == 0."""

    index: int
    first: int
    start: int
    end: int | None
    blend: int = 0  # first frame of the cross-fade band

    @property
    def tag(self) -> str:
        return f"{self.first}-{self.start}-{'end' if self.end is None else self.end}"

    def owns(self, frame: int) -> bool:
        return self.start <= frame and (self.end is None or frame < self.end)

    def covers(self, frame: int) -> bool:
        return self.first <= frame and (self.end is None or frame < self.end)


def plan(estimate: int, workers: int, video: VideoConfig) -> list[Chunk]:
    """Chunks for `workers` over a clip of about `estimate` frames (0: unknown, one chunk):
    `chunk_frames` long, or split evenly over the workers, never shorter than `min_chunk_frames`."""
    if estimate <= 0:
        return [Chunk(0, 0, 0, None)]
    pieces = math.ceil(estimate / video.chunk_frames) if video.chunk_frames > 0 else max(1, workers)
    pieces = max(1, min(pieces, estimate // max(1, video.min_chunk_frames)))
    bounds = [round(i * estimate / pieces) for i in range(pieces + 1)]
    chunks = []
    for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        # a band never reaches into the previous chunk's own band: the ramps must not overlap
        blend = max(bounds[i - 1] if i else 0, a - video.overlap)
        first = max(0, blend - video.seam_warmup)
        chunks.append(Chunk(i, first, a, None if i == pieces - 1 else b, blend))
    return chunks


def seams(chunks: list[Chunk]) -> list[int]:
    """Frames where a chunk takes over from the previous one."""
    return [c.start for c in chunks[1:]]


def blend_weight(chunk: Chunk, frame: int) -> float:
    """Weight of `chunk`'s own result at `frame` in its cross-fade band (linear ramp, 0 < w < 1)."""
    if frame >= chunk.start:
        return 1.0
    if frame < chunk.blend:
        return 0.0
    return (frame - chunk.blend + 1) / (chunk.start - chunk.blend + 1)


def sources(chunks: list[Chunk], frame: int, cut_in_band: bool = False) -> list[tuple[Chunk, float]]:
    """(chunk, weight) pairs whose weighted sum is the final frame `frame`. With a cut between
    the next chunk's `first` and `frame`, both chains restarted there: the next chunk alone."""
    owner = next(c for c in chunks if c.owns(frame))
    nxt = chunks[owner.index + 1] if owner.index + 1 < len(chunks) else None
    if nxt is None or frame < nxt.blend:
        return [(owner, 1.0)]
    if cut_in_band:
        return [(nxt, 1.0)]
    a = blend_weight(nxt, frame)
    return [(owner, 1.0 - a), (nxt, a)]
