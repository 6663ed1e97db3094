"""The temporal stylisation loop (Ruder, Dosovitskiy, Brox 2016) over one chunk of frames.

`FrameStylizer` holds what a worker keeps between frames: the styles, the config, the
style-Gram cache and the previous stylised frame. It runs in-process or inside a Ray actor.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from ..config import StyleConfig
from ..engine import Temporal, stylize_tensors
from . import cuts
from . import flow as flowlib
from .chunks import Chunk
from .state import VideoState


@dataclass
class FrameInfo:
    """What the `callback` of `stylize_video` receives for each finished frame."""

    frame: int  # index within the selected range
    total: int  # frames in the selected range (warm-up frames not counted)
    chunk: int
    shot: int  # scene cuts the chunk has passed
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
        self.followed: np.ndarray | None = None  # the input frames carried along the same chain

    def reset(self, state: np.ndarray | None = None) -> None:
        """Start a new chain, optionally on resume from the saved float state (`chain_state()`
        as it was after the last finished frame; uint8 RGB is taken as /255)."""
        if state is not None and state.dtype == np.uint8:
            state = state.astype(np.float32) / 255.0
        state = None if state is None else np.array(state, dtype=np.float32)
        self.previous = None if state is None else state[..., :3]
        self.followed = state[..., 3:] if state is not None and state.shape[-1] == 6 else None

    def chain_state(self) -> np.ndarray | None:
        """What the next frame needs from this one: the stylised frame (float RGB) and, in
        `warped` mode, the input frames carried along the chain (3 more channels)."""
        if self.previous is None or self.followed is None:
            return self.previous
        return np.concatenate([self.previous, self.followed], axis=-1)

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
        current = content.astype(np.float32) / 255.0
        kwargs: dict = {}
        followed = current
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
                warped = flowlib.carry(prev, w, fill=current)
                if self.followed is not None:  # restart the chain where it no longer follows the input
                    followed = flowlib.carry(self.followed, w, fill=current)
                    drifted = flowlib.drifted(followed, current, video.drift_threshold)
                    warped[drifted] = current[drifted]
                    followed[drifted] = current[drifted]
                    mask = mask * ~drifted
                mask_t = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
                kwargs["temporal"] = Temporal(
                    to_tensor_float(warped), mask_t, video.temporal_weight, video.temporal_blur
                )
                if video.temporal_detail:  # start from the warp with the texture resampling faded
                    warped = flowlib.keep_detail(warped, prev)
                init = to_tensor_float(warped)
            else:
                init = to_tensor_float(prev)
            kwargs["init_image"] = init
        result = stylize_tensors(
            x, self.styles, cfg, style_weights=self.style_weights, steps=steps, cache=self.cache, **kwargs
        )
        self.previous = result.image[0].permute(1, 2, 0).numpy().astype(np.float32)
        self.followed = followed if video.temporal == "warped" else None
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


def needs_chain(cfg: StyleConfig) -> bool:
    """Whether a frame depends on the previous result (so resume needs the float state)."""
    return cfg.video.temporal != "independent"


def flow_pair(current: np.ndarray, previous: np.ndarray, preset: str) -> Flows:
    """Original-frame flows for frame t: w (t -> t-1), w_back (t-1 -> t), reliability of w."""
    w = flowlib.flow(current, previous, preset)
    w_back = flowlib.flow(previous, current, preset)
    return Flows(w, w_back, flowlib.reliability(w, w_back))


@dataclass
class Flows:
    """Flows between frame t and t-1 of the original (so the metric need not compute them again)."""

    w: np.ndarray  # t -> t-1: warps the previous stylised frame onto t
    w_back: np.ndarray  # t-1 -> t
    mask: np.ndarray  # reliability of w (the temporal loss's mask)


@dataclass
class Finished:
    """A frame `run_chunk` finished (or found finished on resume)."""

    frame: int
    resumed: bool
    flows: Flows | None = None


def with_cuts(stream: Iterable[tuple[int, np.ndarray]], first: int, threshold: float):
    """(frame, rgb, new_shot) for a chunk's stream: indices offset by `first`, cuts detected."""
    detector = cuts.CutDetector(threshold)
    for i, rgb in stream:
        yield first + i, rgb, detector.is_cut(rgb)


def run_chunk(
    stream: Iterable[tuple[int, np.ndarray]],
    chunk: Chunk,
    stylizer: FrameStylizer,
    state: VideoState,
    total: int,
    callback: FrameCallback | None = None,
) -> Iterator[Finished]:
    """Stylise one chunk in-process from its decoded `stream` (frames from `chunk.first`),
    resuming after its finished prefix; yields each frame once it is saved in `state`.

    A scene cut restarts the chain. Flows for the next frames are computed in a background
    thread (OpenCV releases the GIL), overlapping the optimisation; only a window of decoded
    frames is held.
    """
    cfg = stylizer.cfg
    done = state.finished(chunk, needs_chain(cfg))
    saved = state.chain(chunk) if done and needs_chain(cfg) else None
    stylizer.reset(saved[1] if saved else None)
    resume_at = chunk.first + done
    want_flow, preset = needs_flow(cfg), cfg.video.flow_preset
    frames = with_cuts(stream, chunk.first, cfg.video.cut_threshold)
    window: deque = deque()  # (t, rgb, new_shot, flow future)
    previous: np.ndarray | None = None
    shot = 0
    with ThreadPoolExecutor(1) as pool:

        def pump() -> None:
            nonlocal previous
            while len(window) < LOOKAHEAD:
                item = next(frames, None)
                if item is None:
                    return
                t, rgb, new_shot = item
                future = None
                if want_flow and previous is not None and not new_shot and t >= resume_at:
                    future = pool.submit(flow_pair, rgb, previous, preset)
                window.append((t, rgb, new_shot, future))
                previous = rgb

        pump()
        while window:
            t, rgb, new_shot, future = window.popleft()
            pump()
            shot += new_shot
            if t < resume_at:
                if t >= chunk.start and callback:
                    callback(FrameInfo(t, total, chunk.index, shot, resumed=True))
                yield Finished(t, True)
                continue
            if new_shot or t == chunk.first:
                stylizer.reset()
            flows = future.result() if future is not None else None
            rgb_out, losses, seconds = stylizer.frame(rgb, (flows.w, flows.mask) if flows else None)
            chain = stylizer.chain_state() if needs_chain(cfg) else None
            state.save(chunk, t, rgb_out, seconds, losses, chain)
            if t >= chunk.start and callback:
                callback(FrameInfo(t, total, chunk.index, shot, False, seconds, losses))
            yield Finished(t, False, flows)


@dataclass
class ChunkWork:
    """Everything a chunk runner needs: the chunks and how to decode each (its frames from
    `chunk.first`), the styles and settings, the resume state, the frames in the selected range
    (`total`), and whom to tell about each frame: `callback(FrameInfo)` and
    `finished(chunk, t, flows=None)` once frame t is saved (in order within a chunk)."""

    plan: list[Chunk]
    frames: Callable[[Chunk], Iterable[tuple[int, np.ndarray]]]
    styles: Sequence[torch.Tensor]
    cfg: StyleConfig
    style_weights: Sequence[float] | None
    state: VideoState
    total: int
    callback: FrameCallback | None = None
    finished: Callable[..., None] | None = None


def run_in_process(work: ChunkWork) -> None:
    """Every chunk of `work` in turn, in this process, with one `FrameStylizer`."""
    stylizer = FrameStylizer(work.styles, work.cfg, work.style_weights)
    for chunk in work.plan:
        for done in run_chunk(work.frames(chunk), chunk, stylizer, work.state, work.total, work.callback):
            if work.finished:
                work.finished(chunk, done.frame, done.flows)
