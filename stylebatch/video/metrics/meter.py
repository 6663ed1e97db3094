"""`QualityMeter`: the three measures streamed over a video, frame by frame, and
`measure_videos` for files; `FrameScorer`: the fixed fp32 scorer per frame."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...engine.scorer import Scorer, paper_gram
from ...errors import InputError
from .. import flow as flowlib
from .quality import VideoQuality, detail
from .warp import WarpError, pair_error


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
        from ..report import Filmstrip

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
        error = None if new_shot else self._pair(t, original, stylised, reference, flows, seam)
        self._detail(stylised, reference, new_shot)
        self._fidelity(original, stylised, reference, new_shot)
        if self.filmstrip is not None:
            mark = "seam" if seam else ("cut" if new_shot and t > 0 else "")
            self.filmstrip.offer(t, original, stylised, mark=mark, detail=self.detail[-1], pair_error=error)
        self.previous = (original, stylised, reference)
        self.last = t
        self.count += 1

    def _pair(
        self,
        t: int,
        original: np.ndarray,
        stylised: np.ndarray,
        reference: np.ndarray | None,
        flows: Any,
        seam: bool,
    ) -> float:
        """The pair (t-1, t): E_pair of the stylised, the input and the reference; returns the first."""
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
        return error

    def _detail(self, stylised: np.ndarray, reference: np.ndarray | None, new_shot: bool) -> None:
        """Detail retention of frame t against the reference frame, else the shot's first frame."""
        d = detail(stylised)
        if new_shot:
            self.shot_detail = d
        if reference is not None:
            basis, self.bases = detail(reference), self.bases | {"independent"}
        else:
            basis, self.bases = self.shot_detail, self.bases | {"shot's first frame"}
        self.detail_raw.append(d)
        self.detail.append(d / basis if basis > 0 else (1.0 if d == 0 else math.inf))

    def _fidelity(
        self, original: np.ndarray, stylised: np.ndarray, reference: np.ndarray | None, new_shot: bool
    ) -> None:
        """The scorer's loss of frame t (and of the reference frame), when there is a scorer."""
        scorer = self._scorer(original)
        if scorer is None:
            return
        losses = scorer.frame_loss(original, [stylised] if reference is None else [stylised, reference])
        self.fidelity.append(losses[0])
        if new_shot:
            self.shot_loss = losses[0]
        if reference is not None:
            self.fidelity_ref.append(losses[1])
            self.fidelity_own_basis.append(None)
        else:
            self.fidelity_own_basis.append(self.shot_loss)

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
    from .. import cuts, decode

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
