"""The temporal stylisation loop (Ruder, Dosovitskiy, Brox 2016) over one chunk of frames.

`FrameStylizer` holds what a worker keeps between frames: the styles, the config, the
style-Gram cache and the previous stylised frame. It runs in-process or inside a Ray actor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from ..config import StyleConfig
from ..engine import Temporal, stylize_tensors
from . import flow as flowlib
from .chunks import Chunk
from .state import VideoState


@dataclass
class FrameInfo:
    """What the `callback` of `stylize_video` receives for each finished frame."""

    frame: int  # index within the selected range
    total: int  # frames in the selected range (warm-up frames not counted)
    chunk: int
    shot: int
    resumed: bool  # loaded from the run directory, not computed
    seconds: float = 0.0
    losses: dict[str, float] = field(default_factory=dict)


FrameCallback = Callable[[FrameInfo], None]
LOOKAHEAD = 4  # flows computed ahead of the optimisation


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return (
        torch.from_numpy(np.ascontiguousarray(rgb))
        .permute(2, 0, 1)
        .float()
        .div(255)
        .unsqueeze(0)
        .contiguous()
    )


def to_rgb(image: torch.Tensor) -> np.ndarray:
    return image[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()


class FrameStylizer:
    """Stylises the frames of a chunk in order; keeps the previous result (float) between calls."""

    def __init__(self, styles: Sequence[torch.Tensor], cfg: StyleConfig, style_weights=None) -> None:
        self.styles = list(styles)
        self.cfg = cfg
        # Later frames start from the (warped) previous frame at full size: coarse levels would
        # only blur that init, so they run single-scale. First frames use the pipeline's scales.
        self.later_cfg = cfg.replace(scales=1)
        self.style_weights = style_weights
        self.cache: dict = {}
        self.previous: np.ndarray | None = None  # [H, W, 3] float32 in [0, 1]

    def reset(self, previous: np.ndarray | None = None) -> None:
        """Start a new chain, optionally from a saved stylised frame (uint8 RGB) on resume."""
        self.previous = None if previous is None else previous.astype(np.float32) / 255.0

    def frame(
        self, content: np.ndarray, flow_mask: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, dict[str, float], float]:
        """Stylise one frame (uint8 RGB). Returns (uint8 RGB, losses, seconds).

        No previous frame (a chain start) or mode `independent`: a first frame from content.
        `previous`: init from the previous stylised frame. `warped`: init from it warped by
        the flow t -> t-1, plus the temporal loss on the reliable pixels of `flow_mask`.
        """
        start = time.perf_counter()
        video = self.cfg.video
        x = to_tensor(content)
        kwargs: dict = {}
        if self.previous is None or video.temporal == "independent":
            cfg, steps = self.cfg, video.first_frame_steps
        else:
            cfg, steps = self.later_cfg, video.frame_steps
            prev = self.previous
            if video.temporal == "warped":
                if flow_mask is None:
                    flow_mask = (
                        np.zeros((*prev.shape[:2], 2), np.float32),
                        np.ones(prev.shape[:2], np.float32),
                    )
                w, mask = flow_mask
                warped = flowlib.warp(prev, w)
                init = to_tensor_float(warped)
                kwargs["temporal"] = Temporal(init, torch.from_numpy(mask)[None, None], video.temporal_weight)
            else:
                init = to_tensor_float(prev)
            kwargs["init_image"] = init
        result = stylize_tensors(
            x, self.styles, cfg, style_weights=self.style_weights, steps=steps, cache=self.cache, **kwargs
        )
        self.previous = result.image[0].permute(1, 2, 0).numpy().astype(np.float32)
        return to_rgb(result.image), result.losses, time.perf_counter() - start


def to_tensor_float(image: np.ndarray) -> torch.Tensor:
    return (
        torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
        .permute(2, 0, 1)
        .unsqueeze(0)
        .contiguous()
    )


def needs_flow(cfg: StyleConfig) -> bool:
    return cfg.video.temporal == "warped"


def run_chunk(
    frames: np.ndarray,
    chunk: Chunk,
    stylizer: FrameStylizer,
    state: VideoState,
    total: int,
    callback: FrameCallback | None = None,
) -> Iterator[int]:
    """Stylise one chunk in-process, resuming after its finished prefix; yields finished frames.

    Flows for the next frames are computed in a background thread (OpenCV releases the GIL),
    overlapping the optimisation.
    """
    done = state.finished(chunk)
    for t in chunk.frames[:done]:
        if t >= chunk.start and callback:
            callback(FrameInfo(t, total, chunk.index, chunk.shot, resumed=True))
    stylizer.reset(state.load(chunk, chunk.first + done - 1) if done else None)
    todo = chunk.frames[done:]
    preset = stylizer.cfg.video.flow_preset
    want_flow = needs_flow(stylizer.cfg)
    with ThreadPoolExecutor(1) as pool:
        futures: dict = {}
        for i, t in enumerate(todo):
            # a bounded look-ahead of flows keeps memory flat on long shots
            for ahead in todo[i : i + LOOKAHEAD]:
                if want_flow and ahead > chunk.first and ahead not in futures:
                    futures[ahead] = pool.submit(
                        flowlib.flow_and_mask, frames[ahead], frames[ahead - 1], preset
                    )
            flow_mask = futures.pop(t).result() if t in futures else None
            rgb, losses, seconds = stylizer.frame(frames[t], flow_mask)
            state.save(chunk, t, rgb, seconds, losses)
            if t >= chunk.start and callback:
                callback(FrameInfo(t, total, chunk.index, chunk.shot, False, seconds, losses))
            yield t
