"""Temporal consistency: the warping error of Lai et al. (ECCV 2018), design section 7.

For each pair t, t+1 within a shot: flows F (t -> t+1) and B (t+1 -> t) on the ORIGINAL
frames, mask M = 1 - occluded (the same check as the temporal loss), W = O_{t+1} sampled at
x + F(x), E_pair = sum M (O_t - W)^2 / (3 sum M) with O in [0, 1] RGB. E_warp = mean of E_pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import flow as flowlib


@dataclass
class WarpError:
    mean: float  # E_warp over all pairs within shots
    pairs: list[float] = field(default_factory=list)  # E_pair, entry i is the pair (t_i, t_i + 1)
    frames: list[int] = field(default_factory=list)  # t_i of each pair

    def to_dict(self) -> dict:
        return {"mean": self.mean, "pairs": self.pairs, "frames": self.frames}


def pair_flows(originals: np.ndarray, pairs: Sequence[int], preset: str = "medium"):
    """Yield (t, F, M) for each pair start t: forward flow t -> t+1 and its reliability mask."""
    for t in pairs:
        a, b = originals[t], originals[t + 1]
        forward = flowlib.flow(a, b, preset)
        backward = flowlib.flow(b, a, preset)
        yield t, forward, flowlib.reliability(forward, backward)


def pair_error(o_t: np.ndarray, o_next: np.ndarray, forward: np.ndarray, mask: np.ndarray) -> float:
    """E_pair for one pair; O as uint8 or float in [0, 1] RGB. NaN when no pixel is reliable."""
    a = _unit(o_t)
    warped = flowlib.warp(_unit(o_next), forward)
    total = mask.sum()
    if total == 0:
        return float("nan")
    return float((mask[..., None] * (a - warped) ** 2).sum() / (3.0 * total))


def _unit(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)


def pairs_within(shots: Sequence[tuple[int, int]]) -> list[int]:
    return [t for s, e in shots for t in range(s, e - 1)]


def warp_errors(
    originals: np.ndarray,
    outputs: Sequence[np.ndarray],
    shots: Sequence[tuple[int, int]] | None = None,
    preset: str = "medium",
) -> list[WarpError]:
    """E_warp of each video in `outputs` (same length and size as `originals`), flows computed once.

    Pass `originals` itself among `outputs` to get the input's own floor.
    """
    shots = shots or [(0, len(originals))]
    results = [WarpError(0.0) for _ in outputs]
    for t, forward, mask in pair_flows(originals, pairs_within(shots), preset):
        for video, res in zip(outputs, results, strict=True):
            e = pair_error(video[t], video[t + 1], forward, mask)
            if np.isfinite(e):
                res.pairs.append(e)
                res.frames.append(t)
    for res in results:
        res.mean = float(np.mean(res.pairs)) if res.pairs else 0.0
    return results


def warp_error(originals: np.ndarray, output: np.ndarray, shots=None, preset: str = "medium") -> WarpError:
    return warp_errors(originals, [output], shots, preset)[0]


def seam_summary(result: WarpError, seam_frames: Sequence[int], overlap: int) -> dict:
    """Mean E_pair at pairs touching a seam's cross-fade band vs everywhere else."""
    band = {t for s in seam_frames for t in range(max(0, s - overlap - 1), s)}  # pairs touching a blend
    at = [e for t, e in zip(result.frames, result.pairs, strict=True) if t in band]
    rest = [e for t, e in zip(result.frames, result.pairs, strict=True) if t not in band]
    return {
        "seams": list(seam_frames),
        "seam_mean": float(np.mean(at)) if at else None,
        "other_mean": float(np.mean(rest)) if rest else None,
        "ratio": float(np.mean(at) / np.mean(rest)) if at and rest and np.mean(rest) > 0 else None,
    }
