"""Splitting shots into contiguous chunks for parallel workers, and cross-fading their seams."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import VideoConfig


@dataclass(frozen=True)
class Chunk:
    """Frames [start, end) belong to this chunk; it runs from `first` (<= start) as warm-up.

    The warm-up frames [first, start) also belong to the previous chunk of the same shot;
    they are cross-faded. The first chunk of a shot has first == start.
    """

    index: int
    shot: int
    first: int
    start: int
    end: int

    @property
    def frames(self) -> range:
        return range(self.first, self.end)

    @property
    def tag(self) -> str:
        return f"{self.first}-{self.start}-{self.end}"


def plan(shots: list[tuple[int, int]], workers: int, video: VideoConfig) -> list[Chunk]:
    """Chunks for `workers`: `chunk_frames` long, or each shot split evenly over the workers,
    never shorter than `min_chunk_frames`."""
    chunks: list[Chunk] = []
    for shot_index, (s, e) in enumerate(shots):
        length = e - s
        if video.chunk_frames > 0:
            pieces = math.ceil(length / video.chunk_frames)
        else:
            pieces = max(1, workers)
        pieces = max(1, min(pieces, length // max(1, video.min_chunk_frames)))
        bounds = [s + round(i * length / pieces) for i in range(pieces + 1)]
        for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
            first = a if i == 0 else max(s, a - video.overlap)
            chunks.append(Chunk(len(chunks), shot_index, first, a, b))
    return chunks


def seams(chunks: list[Chunk]) -> list[int]:
    """Frames where a chunk takes over from the previous one of the same shot."""
    return [c.start for i, c in enumerate(chunks) if i and chunks[i - 1].shot == c.shot]


def blend_weight(chunk: Chunk, frame: int) -> float:
    """Weight of `chunk`'s own result at `frame` in its warm-up band (linear ramp, 0 < w < 1)."""
    if frame >= chunk.start:
        return 1.0
    return (frame - chunk.first + 1) / (chunk.start - chunk.first + 1)


def sources(chunks: list[Chunk], frame: int) -> list[tuple[Chunk, float]]:
    """(chunk, weight) pairs whose weighted sum is the final frame `frame`."""
    owner = next(c for c in chunks if c.start <= frame < c.end)
    following = [c for c in chunks if c.first <= frame < c.start and c.shot == owner.shot]
    if not following:
        return [(owner, 1.0)]
    nxt = following[0]
    a = blend_weight(nxt, frame)
    return [(owner, 1.0 - a), (nxt, a)]
