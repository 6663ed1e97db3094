"""Video quality, two-sided (design section 7): consistency AND detail AND fidelity.

Warping error (Lai et al., ECCV 2018). For each pair t, t+1 within a shot: flows F (t -> t+1)
and B (t+1 -> t) on the ORIGINAL frames, mask M = 1 - occluded (the same check as the
temporal loss), W = O_{t+1} sampled at x + F(x), E_pair = sum M (O_t - W)^2 / (3 sum M) with
O in [0, 1] RGB. E_warp = mean of E_pair. It alone rewards blur (a smeared video is perfectly
consistent), so every frame also gets:

- detail retention: `detail(frame)` = mean |Laplacian| of luminance (0-255, 3x3 kernel) of
  the stylised frame / that of the independent stylisation of the same frame (or, without
  one, of the shot's first stylised frame, itself an independent stylisation);
- fidelity: the fixed fp32 scorer's loss (stylebatch/engine/scorer.py, the paper's losses) of the
  stylised frame against its original frame and the style, also given relative to the
  independent frames' mean loss (or to the shot's first frame's loss).

A temporal method is good only when all three are (`VideoQuality.verdict`).
`QualityMeter` streams: it keeps the previous frame pair and a few numbers per frame, never
the clip. `warp_errors` is the same warping error over whole arrays (tests, small clips).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from ..engine.scorer import Scorer, paper_gram
from ..errors import InputError
from . import flow as flowlib

# The bar of design section 7 and issue 9: a temporal mode must cut the warping error to this
# fraction of independent's, keep this much detail in every frame, and lose at most this much
# fidelity per frame against independent's mean loss.
WARP_MAX = 0.25
DETAIL_MIN = 0.9
FIDELITY_MAX = 1.15


@dataclass
class WarpError:
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


def detail(rgb: np.ndarray) -> float:
    """High-frequency energy: mean |Laplacian| (3x3) of the luminance (0-255) of a uint8 RGB frame."""
    luma = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(luma, cv2.CV_32F)).mean())


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


class FrameScorer(Scorer):
    """The fixed fp32 scorer for video: the style targets are built once, the content target is
    each frame's original. Several styles: their paper Gram targets blended by `style_weights`
    (as the engine blends its targets)."""

    def __init__(
        self,
        styles: Sequence[torch.Tensor],
        size: tuple[int, int],
        *,
        style_weights: Sequence[float] | None = None,
        weights_spec: str = "default",
        **kwargs,
    ) -> None:
        styles = list(styles)
        blank = torch.zeros(1, 3, *size)
        super().__init__(blank, styles[0], weights_spec=weights_spec, size=size, **kwargs)
        if len(styles) > 1:
            w = list(style_weights or [1.0] * len(styles))
            grams = []
            for style in styles:
                feats = self._features(style)
                grams.append({name: paper_gram(feats[name]) for name in self.style_layers})
            self.a = {
                name: sum(g[name] * (wi / sum(w)) for g, wi in zip(grams, w, strict=True))
                for name in self.style_layers
            }

    @torch.no_grad()
    def frame_loss(self, original: np.ndarray, stylised: Sequence[np.ndarray]) -> list[float]:
        """Total paper loss of each uint8 RGB frame in `stylised` against `original` and the style."""
        self.p = self._features(_tensor(original))[self.content_layer]
        return [s.total for s in self(torch.cat([_tensor(x) for x in stylised]))]


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div(255).unsqueeze(0)


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


class QualityMeter:
    """Streams the three measures over a video: call `add` once per frame, in order, then `result`.

    `preset`: the DIS preset for the metric's flows. `scorer`: a `FrameScorer` (None: built
    from `style_targets` at the first frame's size, with `weights_spec`; neither: fidelity is not
    measured). `style_targets`: style image tensors [3,H,W] in [0, 1] (blended by
    `style_weights`). `reference`: a callable t -> uint8 frame (or None) giving the independent
    stylisation of frame t, used when `add` gets no `reference`. `filmstrip`: keep a few
    original | result thumbnails for the report (`report.Filmstrip`, bounded).

    Holds only frame t-1 (original, stylised, reference) and a few floats per frame; it needs
    no flow cache: pass the run's own flows to `add` to skip recomputing them.
    """

    def __init__(
        self,
        preset: str = "medium",
        scorer: FrameScorer | None = None,
        style_targets: Sequence[torch.Tensor] | None = None,
        reference: Callable[[int], np.ndarray | None] | None = None,
        *,
        style_weights: Sequence[float] | None = None,
        weights_spec: str = "default",
        filmstrip: bool = True,
    ) -> None:
        from .report import Filmstrip

        self.preset, self.scorer, self.reference = preset, scorer, reference
        self.filmstrip = Filmstrip() if filmstrip else None
        self.style_targets = list(style_targets) if style_targets is not None else None
        self.style_weights, self.weights_spec = style_weights, weights_spec
        self.count = 0
        self.last: int | None = None
        self.previous: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self.warp, self.floor, self.warp_ref = WarpError(0.0), WarpError(0.0), WarpError(0.0)
        self.seams: list[int] = []
        self.cuts: list[int] = []
        self.detail: list[float] = []
        self.detail_raw: list[float] = []
        self.bases: set[str] = set()
        self.fidelity: list[float] = []
        self.fidelity_ref: list[float] = []
        self.fidelity_own_basis: list[float | None] = []  # the shot's first frame's loss (no reference)
        self.shot_detail = self.shot_loss = 0.0

    def add(
        self,
        t: int,
        original: np.ndarray,
        stylised: np.ndarray,
        *,
        new_shot: bool,
        seam: bool = False,
        flows: tuple[np.ndarray, np.ndarray] | None = None,
        reference: np.ndarray | None = None,
    ) -> None:
        """Measure frame t (uint8 RGB HxWx3 at the working size) and the pair (t-1, t).

        `new_shot`: t starts a shot (frame 0 always does): no pair (t-1, t), a new detail basis.
        `seam`: the pair (t-1, t) touches a chunk hand-over (a cross-faded frame or the first
        frame after one); it is listed in `seam_pairs`. `flows`: (forward, backward) DIS flows
        of the ORIGINAL frames with forward = flow(original[t-1], original[t]) and backward =
        flow(original[t], original[t-1]), at the meter's preset (`flow.both(o[t-1], o[t])`;
        the temporal runner's `flow.flows_and_mask(o[t], o[t-1])` returns them as (w_back, w)).
        An object with attributes `w` (t -> t-1) and `w_back` (t-1 -> t) is taken too.
        `reference`: the independent stylisation of frame t.
        """
        if self.last is not None and t != self.last + 1:
            raise ValueError(f"QualityMeter: frame {t} after frame {self.last}; frames must come in order")
        new_shot = new_shot or self.previous is None
        if reference is None and self.reference is not None:
            reference = self.reference(t)
        if new_shot and t > 0:
            self.cuts.append(t)
        error = None
        if not new_shot:
            assert self.previous is not None
            o_prev, s_prev, r_prev = self.previous
            if flows is None:
                forward, backward = flowlib.both(o_prev, original, self.preset)
            elif hasattr(flows, "w_back"):  # the runner's flow record: w = t -> t-1, w_back = t-1 -> t
                forward, backward = flows.w_back, flows.w
            else:
                forward, backward = flows
            mask = flowlib.reliability(forward, backward)
            error = pair_error(s_prev, stylised, forward, mask)
            self.warp.add(t - 1, error)
            self.floor.add(t - 1, pair_error(o_prev, original, forward, mask))
            if reference is not None and r_prev is not None:
                self.warp_ref.add(t - 1, pair_error(r_prev, reference, forward, mask))
            if seam:
                self.seams.append(t - 1)
        # detail
        d = detail(stylised)
        if new_shot:
            self.shot_detail = d
        if reference is not None:
            basis, self.bases = detail(reference), self.bases | {"independent"}
        else:
            basis, self.bases = self.shot_detail, self.bases | {"shot's first frame"}
        self.detail_raw.append(d)
        self.detail.append(d / basis if basis > 0 else (1.0 if d == 0 else math.inf))
        # fidelity
        scorer = self._scorer(original)
        if scorer is not None:
            losses = scorer.frame_loss(original, [stylised] if reference is None else [stylised, reference])
            self.fidelity.append(losses[0])
            if new_shot:
                self.shot_loss = losses[0]
            if reference is not None:
                self.fidelity_ref.append(losses[1])
                self.fidelity_own_basis.append(None)
            else:
                self.fidelity_own_basis.append(self.shot_loss)
        if self.filmstrip is not None:
            mark = "seam" if seam else ("cut" if new_shot and t > 0 else "")
            self.filmstrip.offer(t, original, stylised, mark=mark, detail=self.detail[-1], pair_error=error)
        self.previous = (original, stylised, reference)
        self.last = t
        self.count += 1

    def _scorer(self, original: np.ndarray) -> FrameScorer | None:
        if self.scorer is None and self.style_targets:
            self.scorer = FrameScorer(
                self.style_targets,
                original.shape[:2],
                style_weights=self.style_weights,
                weights_spec=self.weights_spec,
            )
        return self.scorer

    def result(self) -> VideoQuality:
        """The measures so far (callable at any point)."""
        ref_mean = float(np.mean(self.fidelity_ref)) if self.fidelity_ref else None
        ratios = []
        for loss, own in zip(self.fidelity, self.fidelity_own_basis, strict=True):
            basis = own if own is not None else ref_mean
            ratios.append(loss / basis if basis else math.inf)
        basis = next(iter(self.bases)) if len(self.bases) == 1 else ("mixed" if self.bases else "")
        has_ref = bool(self.warp_ref.pairs) or bool(self.fidelity_ref)
        return VideoQuality(
            frames=self.count,
            warp_error=_copy(self.warp),
            warp_error_input=_copy(self.floor),
            warp_error_reference=_copy(self.warp_ref) if has_ref else None,
            seam_pairs=list(self.seams),
            cuts=list(self.cuts),
            detail=list(self.detail),
            detail_raw=list(self.detail_raw),
            detail_basis=basis,
            fidelity=list(self.fidelity),
            fidelity_ratio=ratios,
            fidelity_reference=list(self.fidelity_ref),
            filmstrip=self.filmstrip.shots() if self.filmstrip is not None else [],
        )


def _copy(w: WarpError) -> WarpError:
    return WarpError(0.0, list(w.pairs), list(w.frames)).close()


def measure_videos(
    original: str | os.PathLike,
    stylised: str | os.PathLike,
    *,
    reference: str | os.PathLike | None = None,
    styles: Sequence[torch.Tensor] | None = None,
    style_weights: Sequence[float] | None = None,
    weights_spec: str = "default",
    cut_threshold: float = 0.2,
    preset: str = "medium",
    filmstrip: bool = False,
) -> tuple[VideoQuality, list[str]]:
    """Stream two (or three) video files frame by frame through a `QualityMeter`.

    The original (and reference) are resized to the stylised video's size; shots come from
    cut detection on the original. Only the shortest stream's frames are compared (said in
    the notes). Returns (quality, notes); never holds more than one frame of each.
    """
    from . import cuts, decode

    out_info = decode.open_video(stylised)
    size = (out_info.width, out_info.height)
    paths = [Path(original), Path(stylised)] + ([Path(reference)] if reference is not None else [])
    streams = [decode.FrameStream(decode.open_video(p), size) for p in paths]
    meter = QualityMeter(
        preset,
        style_targets=styles,
        style_weights=style_weights,
        weights_spec=weights_spec,
        filmstrip=filmstrip,
    )
    detector = cuts.CutDetector(cut_threshold)
    iterators = [iter(s) for s in streams]
    while True:
        items = [next(it, None) for it in iterators]
        if any(item is None for item in items):
            break
        (t, o), (_, s), *rest = items
        cut = detector.is_cut(o)
        meter.add(t, o, s, new_shot=t == 0 or cut, reference=rest[0][1] if rest else None)
    for it, item in zip(iterators, items, strict=True):  # count what is left, one frame at a time
        if item is not None:
            for _ in it:
                pass
    counts = [s.count for s in streams]
    if meter.count < 2:
        raise InputError(stylised, f"fewer than two frames in common with {original}: no pairs to measure")
    notes = []
    if len(set(counts)) > 1:
        names = ", ".join(f"{p.name} {c}" for p, c in zip(paths, counts, strict=True))
        notes.append(f"frame counts differ ({names}): the first {meter.count} are compared")
    return meter.result(), notes
