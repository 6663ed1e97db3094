"""Scene cuts from frame differences: a cut starts a new shot and resets the temporal chain."""

from __future__ import annotations

import cv2
import numpy as np

_SIDE = 64  # differences are taken on small grayscale thumbnails (robust to noise, cheap)


def differences(frames: np.ndarray) -> np.ndarray:
    """Mean absolute difference (0-1) between consecutive frames; entry i is frames i -> i+1."""
    thumbs = []
    for frame in frames:
        h, w = frame.shape[:2]
        scale = _SIDE / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
        thumbs.append(small.astype(np.float32) / 255.0)
    return np.array([np.abs(b - a).mean() for a, b in zip(thumbs, thumbs[1:], strict=False)], np.float32)


def shots(frames: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Shots as [start, end) frame ranges; a new shot starts where the difference > threshold."""
    n = len(frames)
    if threshold <= 0 or n < 2:
        return [(0, n)]
    starts = [0] + [i + 1 for i, d in enumerate(differences(frames)) if d > threshold]
    return [(s, e) for s, e in zip(starts, starts[1:] + [n], strict=True)]
