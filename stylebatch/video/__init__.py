"""Video: frame-by-frame stylisation with temporal consistency (Ruder et al. 2016).

One module per concern: `decode` (split, probe), `flow` (DIS flow, reliability mask, warping),
`cuts` (scene cuts), `chunks` (chunk plan, cross-fade), `runner` (the temporal loop),
`workers` (Ray actors), `state` (resume), `assemble` (seams, output order), `encode` (OpenCV +
ffmpeg), `metrics` (warping error, detail, scorer loss), `report` (JSON + HTML); `api` calls the
steps of one run in `steps`.
"""

from .api import VideoReport, stylize_video
from .metrics import WarpError, warp_error
from .runner import FrameInfo

__all__ = ["FrameInfo", "VideoReport", "WarpError", "stylize_video", "warp_error"]
