"""The warping error (Lai et al., ECCV 2018): E_pair per frame pair within a shot, E_warp their
mean, on flows of the original frames (see the package docstring)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import flow as flowlib


@dataclass
class WarpError:
    """The warping error of one video: E_warp and each pair's E_pair (`add`, then `close`)."""

    mean: float  # E_warp over all pairs within shots
    pairs: list[float] = field(default_factory=list)  # E_pair, entry i is the pair (t_i, t_i + 1)
    frames: list[int] = field(default_factory=list)  # t_i of each pair

    def to_dict(self) -> dict:
        return {"mean": self.mean, "pairs": self.pairs, "frames": self.frames}

    def add(self, t: int, error: float) -> None:
        if math.isfinite(error):  # no reliable pixel: the pair says nothing
            self.pairs.append(error)
            self.frames.append(t)

    def close(self) -> WarpError:
        self.mean = float(np.mean(self.pairs)) if self.pairs else 0.0
        return self


def pair_flows(originals: np.ndarray, pairs: Sequence[int], preset: str = "medium"):
    """Yield (t, F, M) for each pair start t: forward flow t -> t+1 and its reliability mask."""
    for t in pairs:
        forward, backward = flowlib.both(originals[t], originals[t + 1], preset)
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
            res.add(t, pair_error(video[t], video[t + 1], forward, mask))
    return [res.close() for res in results]


def warp_error(originals: np.ndarray, output: np.ndarray, shots=None, preset: str = "medium") -> WarpError:
    return warp_errors(originals, [output], shots, preset)[0]


def seam_summary(result: WarpError, seam_pairs: Sequence[int], seams: Sequence[int]) -> dict:
    """Mean E_pair at `seam_pairs` (pairs touching a seam's cross-fade band) vs everywhere else."""
    band = set(seam_pairs)
    at = [e for t, e in zip(result.frames, result.pairs, strict=True) if t in band]
    rest = [e for t, e in zip(result.frames, result.pairs, strict=True) if t not in band]
    median = float(np.median(result.pairs)) if result.pairs else None
    return {
        "seams": list(seams),
        "seam_pairs": sorted(band),
        "seam_mean": float(np.mean(at)) if at else None,
        "seam_max": float(np.max(at)) if at else None,
        "other_mean": float(np.mean(rest)) if rest else None,
        "median": median,
        "ratio": float(np.mean(at) / np.mean(rest)) if at and rest and np.mean(rest) > 0 else None,
    }
