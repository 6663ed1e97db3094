"""Splitting a video into frames with OpenCV: probe by decoding, rotation, even working size."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError

log = logging.getLogger(__name__)

# A frame-rate spread above this (relative std of frame durations) marks variable-rate input.
VFR_TOLERANCE = 0.05
# Consecutive failed reads after which the stream is taken to have ended.
MAX_CORRUPT_RUN = 25


@dataclass
class VideoInfo:
    """What decoding the whole file told us (container headers are not trusted)."""

    path: str
    frames: int  # counted by decoding
    fps: float  # average rate; the output is constant-rate at this rate
    width: int  # after rotation
    height: int
    rotation: int  # degrees from the container's display matrix; already applied by OpenCV
    variable_rate: bool
    header_frames: int  # what the container claimed, for the log
    corrupt: list[int] = field(default_factory=list)  # frame indices that failed to decode

    @property
    def duration(self) -> float:
        return self.frames / self.fps


def _open(path: Path) -> cv2.VideoCapture:
    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_dir():
        raise InputError(path, "is a directory, not a video")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes)")
    cap = cv2.VideoCapture(os.fspath(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise InputError(path, "not a video OpenCV can decode")
    # OpenCV >= 4.5 applies the display matrix itself; say so explicitly (it is the default).
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return cap


def _frames(cap: cv2.VideoCapture):
    """Yield (ok, frame, timestamp_ms) per decoded position; a run of failures ends the stream.

    A failed read followed by good ones is a corrupt frame in mid-stream: it is reported as
    (False, None, ts) so callers can repeat the previous frame and keep the timing.
    """
    failures = 0
    while True:
        ok, frame = cap.read()
        ts = cap.get(cv2.CAP_PROP_POS_MSEC)
        if ok and frame is not None and frame.size:
            for _ in range(failures):
                yield False, None, ts
            failures = 0
            yield True, frame, ts
            continue
        failures += 1
        if failures >= MAX_CORRUPT_RUN:
            return


def probe(path: str | os.PathLike) -> VideoInfo:
    """Decode every frame once: count, timestamps (for variable rate), rotation, size."""
    path = Path(path)
    cap = _open(path)
    try:
        header_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        header_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0) % 360
        count, stamps, corrupt = 0, [], []
        width = height = 0
        for ok, frame, ts in _frames(cap):
            if ok:
                if not count:
                    height, width = frame.shape[:2]
                stamps.append((count, ts))
            else:
                corrupt.append(count)
            count += 1
    finally:
        cap.release()
    if count == 0 or width == 0:
        raise InputError(path, "no decodable video frames")
    fps, variable = _average_rate(stamps, header_fps)
    return VideoInfo(os.fspath(path), count, fps, width, height, rotation, variable, header_frames, corrupt)


def _average_rate(stamps: list[tuple[int, float]], header_fps: float) -> tuple[float, bool]:
    """Average frame rate from (frame index, decode timestamp) pairs; header rate for tiny clips.

    Per-frame durations are divided by the index step, so a corrupt (skipped) frame does not
    look like a variable rate.
    """
    if len(stamps) >= 3:
        index = np.asarray([i for i, _ in stamps], dtype=np.float64)
        ms = np.asarray([t for _, t in stamps], dtype=np.float64)
        span = ms[-1] - ms[0]
        if span > 0:
            durations = np.diff(ms) / np.diff(index)
            fps = float(1000.0 * (index[-1] - index[0]) / span)
            variable = float(durations.std()) / float(durations.mean()) > VFR_TOLERANCE
            if not variable and header_fps > 0 and abs(fps - header_fps) / header_fps < 0.01:
                fps = header_fps  # the exact rational rate (29.97...) instead of rounded stamps
            return fps, variable
    return (header_fps if header_fps > 0 else 25.0), False


def working_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """(w, h) shrunk so the longest side is at most `longest`, both even (yuv420p needs it)."""
    scale = min(1.0, longest / max(width, height))
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


def frame_range(info: VideoInfo, start: float | None, end: float | None) -> range:
    """Frame indices within [start, end) seconds."""
    first = 0 if start is None else max(0, int(round(start * info.fps)))
    last = info.frames if end is None else min(info.frames, int(round(end * info.fps)))
    if last <= first:
        raise InputError(
            info.path,
            f"no frames between {start or 0:g} s and {end:g} s (the clip lasts {info.duration:.2f} s)",
        )
    return range(first, last)


def read_frames(info: VideoInfo, size: tuple[int, int], frames: range | None = None) -> np.ndarray:
    """The frames in `frames` as an [N, H, W, 3] uint8 RGB array at `size` (w, h).

    A corrupt frame repeats the previous good one (the first good one at the very start).
    """
    frames = frames or range(info.frames)
    w, h = size
    out = np.zeros((len(frames), h, w, 3), dtype=np.uint8)
    cap = _open(Path(info.path))
    previous = None
    missing: list[int] = []
    try:
        for index, (ok, frame, _) in enumerate(_frames(cap)):
            if index >= frames.stop:
                break
            if ok:
                if frame.shape[1] != w or frame.shape[0] != h:
                    shrink = frame.shape[1] > w or frame.shape[0] > h
                    frame = cv2.resize(
                        frame, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
                    )
                previous = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            if index < frames.start:
                continue
            if previous is None:
                missing.append(index - frames.start)
                continue
            if not ok:
                log.warning("%s: frame %d is corrupt; repeating the previous frame", info.path, index)
            out[index - frames.start] = previous
            for j in missing:  # corrupt frames at the very start take the first good frame
                out[j] = previous
            missing = []
    finally:
        cap.release()
    return out
