"""Video quality, two-sided: consistency AND detail AND fidelity.

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

Modules: `warp` (the warping error), `quality` (detail, the measures and their bars),
`meter` (the streaming meter, the frame scorer, measuring video files).
"""

from .meter import FrameScorer, QualityMeter, measure_videos
from .quality import DETAIL_MIN, FIDELITY_MAX, WARP_MAX, VideoQuality, detail
from .warp import WarpError, pair_error, pair_flows, pairs_within, seam_summary, warp_error, warp_errors

__all__ = [
    "DETAIL_MIN",
    "FIDELITY_MAX",
    "WARP_MAX",
    "FrameScorer",
    "QualityMeter",
    "VideoQuality",
    "WarpError",
    "detail",
    "measure_videos",
    "pair_error",
    "pair_flows",
    "pairs_within",
    "seam_summary",
    "warp_error",
    "warp_errors",
]
