"""Scene cuts from frame differences: a cut starts a new shot and resets the temporal chain."""

from __future__ import annotations

import cv2
import numpy as np

_SIDE = 64  # differences are taken on small grayscale thumbnails (robust to noise, cheap)


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """A grayscale float thumbnail (longest side 64) of an RGB uint8 frame."""
    h, w = frame.shape[:2]
    scale = _SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


class CutDetector:
    """On-the-fly cut detection: keeps only the previous frame's thumbnail."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.previous: np.ndarray | None = None

    def is_cut(self, frame: np.ndarray) -> bool:
        """Whether `frame` starts a new shot (the stream's first frame does not count)."""
        thumb = thumbnail(frame)
        before, self.previous = self.previous, thumb
        return (
            before is not None
            and self.threshold > 0
            and float(np.abs(thumb - before).mean()) > self.threshold
        )


def differences(frames: np.ndarray) -> np.ndarray:
    """Mean absolute difference (0-1) between consecutive frames; entry i is frames i -> i+1."""
    thumbs = [thumbnail(f) for f in frames]
    return np.array([np.abs(b - a).mean() for a, b in zip(thumbs, thumbs[1:], strict=False)], np.float32)


def shots(frames: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Shots as [start, end) frame ranges; a new shot starts where the difference > threshold."""
    n = len(frames)
    if threshold <= 0 or n < 2:
        return [(0, n)]
    starts = [0] + [i + 1 for i, d in enumerate(differences(frames)) if d > threshold]
    return from_cuts(starts[1:], n)


def from_cuts(cut_frames: list[int], n: int) -> list[tuple[int, int]]:
    """Shots [start, end) of an n-frame clip from the frames that start a new shot."""
    starts = [0] + [c for c in cut_frames if 0 < c < n]
    return [(s, e) for s, e in zip(starts, starts[1:] + [n], strict=True)]
