"""Tiny synthetic clips for the video tests: a camera pan, a moving square, audio, rotation."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from stylebatch.video.encode import ffmpeg_exe

from .conftest import synthetic_photo


def pan_frames(n: int = 12, width: int = 64, height: int = 48, step: int = 2) -> np.ndarray:
    """A camera pan: a window sliding `step` px per frame to the right over a larger photo."""
    big = np.asarray(synthetic_photo(width + step * n + 8, height + 8, seed=3))
    return np.stack([big[4 : 4 + height, 4 + step * i : 4 + step * i + width] for i in range(n)])


def textured(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth random texture (enough gradient everywhere for optical flow)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 4 + 2, width // 4 + 2, 3), dtype=np.uint8)
    return cv2.resize(small, (width + 8, height + 8), interpolation=cv2.INTER_CUBIC)[
        4 : 4 + height, 4 : 4 + width
    ]


def smooth_pan(n: int, width: int, height: int, step: int = 1, seed: int = 0) -> np.ndarray:
    """A pan over smooth colour blobs (8-px scale): little high-frequency or chroma detail."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 8 + 2, (width + step * n) // 8 + 2, 3), dtype=np.uint8)
    big = cv2.resize(small, (width + step * n + 16, height + 16), interpolation=cv2.INTER_CUBIC)
    return np.stack([big[8 : 8 + height, 8 + step * i : 8 + step * i + width] for i in range(n)])


def square_frames(n: int = 6, width: int = 64, height: int = 48, side: int = 16, step: int = 3):
    """A textured square moving `step` px per frame right over a static textured background."""
    background = textured(width, height, 1)
    patch = textured(side, side, 2) // 2 + 120
    frames = []
    for i in range(n):
        frame = background.copy()
        x = 10 + step * i
        frame[16 : 16 + side, x : x + side] = patch
        frames.append(frame)
    return np.stack(frames)


def write_clip(
    frames: np.ndarray, path: Path, fps: float = 12.0, audio: bool = False, rotate: int = 0
) -> Path:
    """Write RGB frames with OpenCV (mp4v); optionally mux a sine tone / set display rotation.

    Odd sizes go through ffmpeg (libx264 4:4:4): OpenCV's mp4v writer crops them to even.
    """
    h, w = frames.shape[1:3]
    exe = ffmpeg_exe()
    raw = path.with_name(path.stem + ".raw.mp4")
    if w % 2 or h % 2:
        assert exe, "ffmpeg (imageio-ffmpeg) is needed for odd-size clips"
        cmd = [exe, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]
        cmd += [
            "-s",
            f"{w}x{h}",
            "-r",
            str(fps),
            "-i",
            "-",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv444p",
            str(raw),
        ]
        subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), check=True)
    else:
        writer = cv2.VideoWriter(str(raw), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
    if not audio and not rotate:
        raw.rename(path)
        return path
    assert exe, "ffmpeg (imageio-ffmpeg) is needed for audio/rotation clips"
    cmd = [exe, "-hide_banner", "-loglevel", "error", "-y"]
    if rotate:
        cmd += ["-display_rotation", str(rotate)]
    cmd += ["-i", str(raw)]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={len(frames) / fps + 0.5}"]
        cmd += ["-map", "0:v", "-map", "1:a", "-c:a", "aac", "-shortest"]
    cmd += ["-c:v", "copy", str(path)]
    subprocess.run(cmd, check=True)
    raw.unlink()
    return path


def stream_durations(path: Path) -> dict[str, float]:
    """Duration of each stream kind by decoding with ffmpeg (`-f null`), from its final `time=`."""
    exe = ffmpeg_exe()
    out = {}
    for kind, sel in (("video", "0:v:0"), ("audio", "0:a:0")):
        proc = subprocess.run(
            [exe, "-hide_banner", "-i", str(path), "-map", sel, "-f", "null", "-"],
            capture_output=True,
            text=True,
        )
        if proc.returncode == 0:
            times = re.findall(r"time=(\d+):(\d+):([\d.]+)", proc.stderr)
            if times:
                hh, mm, ss = times[-1]
                out[kind] = int(hh) * 3600 + int(mm) * 60 + float(ss)
    return out


@pytest.fixture
def one_thread():
    """Torch on one thread: on a shared 2-core machine more threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(**overrides):
    """The `video` pipeline at test size with random weights and a handful of steps."""
    from stylebatch import pipelines

    settings = {"size": 48, "scales": 1, "weights": "random", "device": "cpu", "progress_every": 2}
    settings.update({"video.frame_steps": 2, "video.first_frame_steps": 4})
    settings.update(overrides)
    return pipelines.load("video", settings)
