"""Detail retention and `VideoQuality`: the three measures of a stylised video against their bars."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .warp import WarpError

# The bars of issue 9: a temporal mode must cut the warping error to this fraction of
# independent's, keep this much detail in every frame, and lose at most this much fidelity per
# frame against independent's mean loss.
WARP_MAX = 0.25
DETAIL_MIN = 0.9
FIDELITY_MAX = 1.15


def detail(rgb: np.ndarray) -> float:
    """High-frequency energy: mean |Laplacian| (3x3) of the luminance (0-255) of a uint8 RGB frame."""
    luma = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(luma, cv2.CV_32F)).mean())


@dataclass
class VideoQuality:
    """The three measures of one stylised video, per pair / per frame, and their summary.

    Frame lists are indexed by frame (0 .. frames-1); pair lists by the pair's first frame t.
    `*_reference` entries are the independent stylisation's (when one was given), else empty.
    """

    frames: int
    warp_error: WarpError  # of the stylised video
    warp_error_input: WarpError  # the input video's own: the floor
    warp_error_reference: WarpError | None  # of the independent stylisation, when given
    seam_pairs: list[int]  # pair starts t whose pair (t, t+1) touches a chunk hand-over
    cuts: list[int]  # frames that start a new shot
    detail: list[float]  # per frame: detail retention (1.0 = as much as the basis)
    detail_raw: list[float]  # per frame: mean |Laplacian| of the stylised frame's luminance
    detail_basis: str  # "independent" | "shot's first frame" | "mixed"
    fidelity: list[float]  # per frame: the scorer's total loss (empty without a scorer)
    fidelity_ratio: list[float]  # per frame: fidelity / independent's mean (or the shot's first frame's)
    fidelity_reference: list[float]  # per frame: the scorer's loss of the independent frame
    filmstrip: list = field(default_factory=list)  # report.Shot thumbnails (not in to_dict)

    def summary(self) -> dict:
        """Means and extremes; `seam_worst` is the worst seam pair over the clip's median pair."""
        pairs = dict(zip(self.warp_error.frames, self.warp_error.pairs, strict=True))
        median = float(np.median(self.warp_error.pairs)) if self.warp_error.pairs else 0.0
        seam = [pairs[t] for t in self.seam_pairs if t in pairs]
        ref = self.warp_error_reference
        return {
            "warp_error": self.warp_error.mean,
            "warp_error_input": self.warp_error_input.mean,
            "warp_error_reference": ref.mean if ref else None,
            "warp_ratio": self.warp_error.mean / ref.mean if ref and ref.mean > 0 else None,
            "median_pair": median,
            "seam_worst": max(seam) / median if seam and median > 0 else None,
            "detail_min": min(self.detail) if self.detail else None,
            "detail_mean": float(np.mean(self.detail)) if self.detail else None,
            "detail_basis": self.detail_basis,
            "fidelity_mean": float(np.mean(self.fidelity)) if self.fidelity else None,
            "fidelity_reference_mean": float(np.mean(self.fidelity_reference))
            if self.fidelity_reference
            else None,
            "fidelity_ratio_max": max(self.fidelity_ratio) if self.fidelity_ratio else None,
            # the same frame's independent loss as the basis: the bar's "independent's mean"
            # also counts how much harder one frame's content is than the clip's average
            "fidelity_same_frame_max": max(
                (
                    loss / ref
                    for loss, ref in zip(self.fidelity, self.fidelity_reference, strict=False)
                    if ref > 0
                ),
                default=None,
            ),
        }

    def verdict(self) -> dict:
        """Each measure against its bar (None where it could not be measured) and `good`: all pass."""
        s = self.summary()
        checks = {
            "warp": None if s["warp_ratio"] is None else s["warp_ratio"] <= WARP_MAX,
            "detail": None if s["detail_min"] is None else s["detail_min"] >= DETAIL_MIN,
            "fidelity": None if s["fidelity_ratio_max"] is None else s["fidelity_ratio_max"] <= FIDELITY_MAX,
        }
        values = list(checks.values())
        good = False if False in values else (None if None in values else True)
        return {**checks, "good": good}

    def to_dict(self) -> dict:
        ref = self.warp_error_reference
        return {
            "frames": self.frames,
            "warp_error": self.warp_error.to_dict(),
            "warp_error_input": self.warp_error_input.to_dict(),
            "warp_error_reference": ref.to_dict() if ref else None,
            "seam_pairs": self.seam_pairs,
            "cuts": self.cuts,
            "detail": self.detail,
            "detail_raw": self.detail_raw,
            "detail_basis": self.detail_basis,
            "fidelity": self.fidelity,
            "fidelity_ratio": self.fidelity_ratio,
            "fidelity_reference": self.fidelity_reference,
            "summary": self.summary(),
            "verdict": self.verdict(),
            "bars": {"warp_max": WARP_MAX, "detail_min": DETAIL_MIN, "fidelity_max": FIDELITY_MAX},
        }
