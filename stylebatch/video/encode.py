"""Reassembly: OpenCV writes the frames, then ffmpeg encodes H.264/yuv420p and copies the audio."""

from __future__ import annotations

import glob
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)


def ffmpeg_exe() -> str | None:
    """The ffmpeg binary shipped by imageio-ffmpeg (or IMAGEIO_FFMPEG_EXE), None if unavailable."""
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # not installed, or no binary for this platform
        return None
    return exe if exe and os.path.exists(exe) else None


def has_audio(path: str | os.PathLike, exe: str | None = None) -> bool:
    """Whether ffmpeg sees an audio stream in `path`."""
    exe = exe or ffmpeg_exe()
    if exe is None:
        return False
    proc = subprocess.run([exe, "-hide_banner", "-i", os.fspath(path)], capture_output=True, text=True)
    return bool(re.search(r"Stream #\S+.*: Audio:", proc.stderr))


def write_opencv(
    frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float, size: tuple[int, int]
) -> int:
    """Write RGB uint8 frames of `size` (w, h) to an MPEG-4 (mp4v) file; returns the count."""
    writer = cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {path}")
    count = 0
    try:
        for rgb in frames:
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            count += 1
    finally:
        writer.release()
    return count


@dataclass
class Encoded:
    path: Path
    audio: str  # "copied" | "re-encoded (aac)" | "none in the source" | "dropped: <why>"
    encoder: str  # "ffmpeg libx264" | "opencv mp4v"


def finalize(
    opencv_file: Path,
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    fps: float,
    frames: int,
    crf: int = 18,
    preset: str = "medium",
    start: float = 0.0,
) -> Encoded:
    """Encode `opencv_file` to H.264 yuv420p at `fps` with the source's audio, written atomically.

    The audio is taken from `start` seconds of the source and trimmed to the video's length;
    copied when the container accepts it, else re-encoded to AAC. Without ffmpeg the OpenCV
    file becomes the output and the audio is dropped.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    exe = ffmpeg_exe()
    if exe is None:
        os.replace(opencv_file, out)
        return Encoded(out, "dropped: ffmpeg (imageio-ffmpeg) is not available", "opencv mp4v")
    duration = frames / fps
    audio_in = has_audio(source, exe)
    suffix = out.suffix or ".mp4"
    for stale in out.parent.glob(f".{glob.escape(out.stem)}.????????{suffix}"):
        stale.unlink(missing_ok=True)  # left by an encode that was killed: never a finished output
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=suffix)
    os.close(fd)
    base = [exe, "-hide_banner", "-loglevel", "error", "-y", "-i", os.fspath(opencv_file)]
    if audio_in:
        base += ["-ss", f"{start:.6f}", "-i", os.fspath(source)]
    video = ["-map", "0:v:0", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(crf)]
    video += ["-preset", preset, "-r", f"{fps:.6f}", "-movflags", "+faststart"]
    attempts = [
        ("copied", ["-map", "1:a?", "-c:a", "copy"]),
        ("re-encoded (aac)", ["-map", "1:a?", "-c:a", "aac"]),
    ]
    if not audio_in:
        attempts = [("none in the source", [])]
    attempts.append(("dropped: ffmpeg could not mux it", []))
    try:
        for label, audio in attempts:
            cmd = base + video + audio + ["-t", f"{duration:.6f}", tmp]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode == 0:
                os.replace(tmp, out)
                return Encoded(out, label, "ffmpeg libx264")
            log.warning("ffmpeg failed (%s): %s", label, proc.stderr.strip()[-500:])
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    os.replace(opencv_file, out)
    return Encoded(out, "dropped: ffmpeg failed to encode", "opencv mp4v")


def read_video(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """All frames of a video as [N, H, W, 3] uint8 RGB (resized to `size` (w, h) if given)."""
    cap = cv2.VideoCapture(os.fspath(path), cv2.CAP_FFMPEG)
    frames = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if size and (frame.shape[1], frame.shape[0]) != tuple(size):
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return np.stack(frames) if frames else np.zeros((0, 1, 1, 3), np.uint8)
