"""Reassembly in one encode: finished frames are piped in order into ffmpeg (H.264 yuv420p),
then that stream is muxed, retimed to the measured rate, with the source's audio (no re-encode).

Without ffmpeg, OpenCV writes an MPEG-4 (mp4v) file and the audio is dropped.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import subprocess
import tempfile
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


def output_mode() -> int:
    """The mode every output file gets: 0644 less the umask (as `open` would give a new file)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o644 & ~umask


def x264_args(crf: int = 18, preset: str = "medium") -> list[str]:
    """ffmpeg's output options for the final encode: H.264 4:2:0 (what every player takes), or
    at crf 0 lossless 4:4:4 (for further editing; not every player decodes it)."""
    pix_fmt = "yuv444p" if crf == 0 else "yuv420p"
    return ["-c:v", "libx264", "-pix_fmt", pix_fmt, "-crf", str(crf), "-preset", preset]


class FrameEncoder:
    """Frames in order -> one video file in `work`: ffmpeg libx264 (stdin pipe) or OpenCV mp4v.

    `write` takes RGB uint8 frames of `size` (w, h); `close` returns the frame count. The rate
    given here is provisional: `finalize` muxes the stream at the measured one.
    """

    def __init__(self, work: Path, size: tuple[int, int], fps: float, crf: int = 18, preset: str = "medium"):
        self.size, self.count = size, 0
        work.mkdir(parents=True, exist_ok=True)
        self.exe = ffmpeg_exe()
        self.proc: subprocess.Popen | None = None
        self.writer: cv2.VideoWriter | None = None
        self.fps = fps
        if self.exe:
            self.path = work / "video.mp4"
            w, h = size
            cmd = [self.exe, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo"]
            cmd += ["-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", f"{fps:.6f}", "-i", "-"]
            cmd += x264_args(crf, preset)
            cmd += ["-f", "mp4", os.fspath(self.path)]
            self.errors = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=self.errors)
            self.encoder = "ffmpeg libx264"
        else:
            self.path = work / "opencv.mp4"
            self.writer = cv2.VideoWriter(os.fspath(self.path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
            if not self.writer.isOpened():
                raise OSError(f"OpenCV cannot write {self.path}")
            self.encoder = "opencv mp4v"

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape[1::-1] != tuple(self.size):
            raise ValueError(
                f"frame of {rgb.shape[1]}x{rgb.shape[0]}, expected {self.size[0]}x{self.size[1]}"
            )
        if self.proc is not None:
            try:
                self.proc.stdin.write(np.ascontiguousarray(rgb).tobytes())
            except BrokenPipeError:
                raise OSError(f"ffmpeg stopped encoding: {self._stderr()}") from None
        else:
            self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.count += 1

    def _stderr(self) -> str:
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace").strip()[-500:]

    def close(self) -> int:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            if self.proc.wait() != 0:
                raise OSError(f"ffmpeg failed to encode: {self._stderr()}")
            self.errors.close()
            self.proc = None
        elif self.writer is not None:
            self.writer.release()
            self.writer = None
        return self.count

    def abort(self) -> None:
        """Stop without a result (an error or interrupt upstream)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.errors.close()
            self.proc = None
        elif self.writer is not None:
            self.writer.release()
            self.writer = None


@dataclass
class Encoded:
    path: Path
    audio: str  # "copied" | "re-encoded (aac)" | "none in the source" | "dropped: <why>"
    encoder: str  # "ffmpeg libx264" | "opencv mp4v"


def finalize(
    encoded: FrameEncoder,
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    fps: float,
    start: float = 0.0,
) -> Encoded:
    """Mux the encoded stream at `fps` with the source's audio into `out`, written atomically.

    The audio is taken from `start` seconds of the source and trimmed to the video's length;
    copied when the container accepts it, else re-encoded to AAC. The video is never re-encoded.
    Without ffmpeg the OpenCV file becomes the output and the audio is dropped.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    mode = output_mode()
    if encoded.exe is None:
        os.chmod(encoded.path, mode)
        os.replace(encoded.path, out)
        return Encoded(out, "dropped: ffmpeg (imageio-ffmpeg) is not available", encoded.encoder)
    exe, duration = encoded.exe, encoded.count / fps
    audio_in = has_audio(source, exe)
    suffix = out.suffix or ".mp4"
    for stale in out.parent.glob(f".{glob.escape(out.stem)}.????????{suffix}"):
        stale.unlink(missing_ok=True)  # left by an encode that was killed: never a finished output
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=suffix)
    os.close(fd)
    base = [exe, "-hide_banner", "-loglevel", "error", "-y"]
    if abs(fps - encoded.fps) > 1e-9 * fps:  # retime: the stream was encoded at a provisional rate
        base += ["-itsscale", f"{encoded.fps / fps:.12f}"]
    base += ["-i", os.fspath(encoded.path)]
    if audio_in:
        base += ["-ss", f"{start:.6f}", "-i", os.fspath(source)]
    video = ["-map", "0:v:0", "-c:v", "copy", "-movflags", "+faststart"]
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
                os.chmod(tmp, mode)  # mkstemp creates 0600
                os.replace(tmp, out)
                return Encoded(out, label, encoded.encoder)
            log.warning("ffmpeg failed (%s): %s", label, proc.stderr.strip()[-500:])
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    raise OSError(f"ffmpeg could not write {out}")


def read_video(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """All frames of a short video as [N, H, W, 3] uint8 RGB (resized to `size` (w, h) if given);
    for tools and tests."""
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
