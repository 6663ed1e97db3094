"""Splitting a video into frames with OpenCV, streamed: open, seek, decode a window at a time.

Container headers are only hints: the frame count is found while streaming, and the average
rate comes from the decode timestamps of the frames actually read.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError, check_input_file

log = logging.getLogger(__name__)

# A frame-rate spread above this (relative std of frame durations) marks variable-rate input.
VFR_TOLERANCE = 0.05
# Consecutive failed reads after which the stream is taken to have ended.
MAX_CORRUPT_RUN = 25


@dataclass
class VideoInfo:
    """What opening the file (and, for `probe`, decoding it) told us."""

    path: str
    frames: int  # counted by decoding (`probe`); the container's claim after `open_video`
    fps: float  # average rate; the output is constant-rate at this rate
    width: int  # after rotation
    height: int
    rotation: int  # degrees from the container's display matrix; already applied by OpenCV
    variable_rate: bool
    header_frames: int  # what the container claimed
    corrupt: list[int] = field(default_factory=list)  # frame indices that failed to decode
    header_fps: float = 0.0

    @property
    def duration(self) -> float:
        return self.frames / self.fps


def _open(path: Path) -> cv2.VideoCapture:
    check_input_file(path, path, "a video")
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


def open_video(path: str | os.PathLike) -> VideoInfo:
    """Header facts plus the first decodable frame's size; decodes a few frames, not the file."""
    path = Path(path)
    cap = _open(path)
    try:
        header_frames = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        header_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(header_fps) or header_fps <= 0 or header_fps > 1000:
            header_fps = 0.0
        rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0) % 360
        first = next((frame for ok, frame, _ in _frames(cap) if ok), None)
    finally:
        cap.release()
    if first is None:
        raise InputError(path, "no decodable video frames")
    height, width = first.shape[:2]
    fps = header_fps or 25.0
    return VideoInfo(
        os.fspath(path), header_frames, fps, width, height, rotation, False, header_frames, [], header_fps
    )


class RateMeter:
    """Running average frame rate and its spread from (index, timestamp ms) pairs."""

    def __init__(self) -> None:
        self.first: tuple[int, float] | None = None
        self.last: tuple[int, float] | None = None
        self.count = self.total = self.total_sq = 0.0

    def add(self, index: int, ms: float) -> None:
        if self.last is not None and index > self.last[0]:
            duration = (ms - self.last[1]) / (index - self.last[0])  # a corrupt gap is not a rate change
            self.count += 1
            self.total += duration
            self.total_sq += duration * duration
        if self.first is None:
            self.first = (index, ms)
        self.last = (index, ms)

    def rate(self, header_fps: float) -> tuple[float, bool]:
        """(average fps, variable?); the header's exact rational rate when they agree."""
        if self.count >= 2 and self.first and self.last and self.last[1] > self.first[1]:
            mean = self.total / self.count
            std = math.sqrt(max(0.0, self.total_sq / self.count - mean * mean))
            fps = 1000.0 * (self.last[0] - self.first[0]) / (self.last[1] - self.first[1])
            variable = mean > 0 and std / mean > VFR_TOLERANCE
            if not variable and header_fps > 0 and abs(fps - header_fps) / header_fps < 0.01:
                fps = header_fps  # the exact rational rate (29.97...) instead of rounded stamps
            return fps, bool(variable)
        return (header_fps if header_fps > 0 else 25.0), False


class FrameStream:
    """Frames [first, stop) of a video at `size` (w, h) as uint8 RGB, decoded one at a time.

    Seeks to `first` (OpenCV's frame-accurate seek; grabbing forward if it refuses). A corrupt
    frame repeats the previous good one (the first good one at the very start). `count`,
    `corrupt` and `rate()` describe what was read so far; `decoded` counts frames decoded.
    """

    def __init__(self, info: VideoInfo, size: tuple[int, int], first: int = 0, stop: int | None = None):
        self.info, self.size, self.first, self.stop = info, size, first, stop
        self.count = 0  # frames yielded
        self.decoded = 0
        self.corrupt: list[int] = []
        self.rates = RateMeter()

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        w, h = self.size
        cap = _open(Path(self.info.path))
        index = 0
        try:
            if self.first > 0 and cap.set(cv2.CAP_PROP_POS_FRAMES, self.first):
                index = int(cap.get(cv2.CAP_PROP_POS_FRAMES))
                if index != self.first:  # the seek landed elsewhere: decode from the start
                    cap.release()
                    cap, index = _open(Path(self.info.path)), 0
            previous, missing = None, 0
            for ok, frame, ts in _frames(cap):
                if self.stop is not None and index >= self.stop:
                    break
                self.decoded += 1
                if ok:
                    if index >= self.first:
                        self.rates.add(index, ts)
                    if frame.shape[1] != w or frame.shape[0] != h:
                        shrink = frame.shape[1] > w or frame.shape[0] > h
                        inter = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
                        frame = cv2.resize(frame, (w, h), interpolation=inter)
                    previous = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                if index < self.first:
                    index += 1
                    continue
                if not ok:
                    self.corrupt.append(index)
                    log.warning(
                        "%s: frame %d is corrupt; repeating the previous frame", self.info.path, index
                    )
                if previous is None:
                    missing += 1  # corrupt frames at the very start take the first good frame
                else:
                    for _ in range(missing + 1):
                        self.count += 1
                        yield index - self.first - missing, previous
                        missing -= 1
                    missing = 0
                index += 1
        finally:
            cap.release()

    def rate(self) -> tuple[float, bool]:
        return self.rates.rate(self.info.header_fps)


def probe(path: str | os.PathLike) -> VideoInfo:
    """Decode every frame once: count, rate (variable?), corrupt frames. For tools and tests;
    `stylize_video` streams instead."""
    info = open_video(path)
    stream = FrameStream(info, (info.width, info.height))
    for _ in stream:
        pass
    if stream.count == 0:
        raise InputError(path, "no decodable video frames")
    info.frames, info.corrupt = stream.count, stream.corrupt
    info.fps, info.variable_rate = stream.rate()
    return info


def working_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """(w, h) shrunk so the longest side is at most `longest`, both even (yuv420p needs it)."""
    scale = min(1.0, longest / max(width, height))
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


def frame_range(info: VideoInfo, start: float | None, end: float | None) -> tuple[int, int | None]:
    """(first, stop) frame indices for [start, end) seconds at the container's rate; stop None
    means to the end of the stream."""
    first = 0 if start is None else max(0, int(round(start * info.fps)))
    stop = None if end is None else int(round(end * info.fps))
    if stop is not None and stop <= first:
        raise InputError(info.path, f"no frames between {start or 0:g} s and {end:g} s")
    if info.header_frames and first >= info.header_frames:
        raise InputError(
            info.path,
            f"--start {start:g} s is past the end (the clip claims {info.header_frames / info.fps:.2f} s)",
        )
    return first, stop


def read_frames(info: VideoInfo, size: tuple[int, int], frames: range | None = None) -> np.ndarray:
    """The frames in `frames` as an [N, H, W, 3] uint8 RGB array at `size` (w, h): for short
    clips in tools and tests (the video pipeline streams)."""
    stream = FrameStream(info, size, frames.start if frames else 0, frames.stop if frames else None)
    out = [rgb.copy() for _, rgb in stream]
    w, h = size
    return np.stack(out) if out else np.zeros((0, h, w, 3), np.uint8)
