"""Streaming video: a window of frames in memory, one encode, seeking, exact resume, file mode."""

from __future__ import annotations

import os
import stat
import subprocess
import weakref

import numpy as np
import pytest
from PIL import Image

from stylebatch.video import decode, encode, metrics, runner, stylize_video
from stylebatch.video.chunks import Chunk
from stylebatch.video.state import VideoState

from .video_clips import (  # noqa: F401
    one_thread,
    pan_frames,
    smooth_pan,
    square_frames,
    tiny_config,
    write_clip,
)

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.skipif(encode.ffmpeg_exe() is None, reason="imageio-ffmpeg has no ffmpeg binary here"),
]


def x264_clip(frames: np.ndarray, path, fps: float = 24.0, gop: int = 12):
    """An H.264 clip with B-frames and a keyframe every `gop` frames (seeking must be exact)."""
    h, w = frames.shape[1:3]
    cmd = [encode.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo"]
    cmd += ["-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", "-c:v", "libx264"]
    cmd += ["-g", str(gop), "-bf", "2", "-pix_fmt", "yuv420p", "-crf", "10", str(path)]
    subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), check=True)
    return path


class LiveFrames:
    """Counts decoded frames alive at once (weak references), wrapping `FrameStream.__iter__`."""

    def __init__(self) -> None:
        self.alive = self.peak = self.decoded = 0

    def _gone(self) -> None:
        self.alive -= 1

    def wrap(self, original):
        meter = self

        def iterate(stream):
            for index, rgb in original(stream):
                if not hasattr(rgb, "_counted"):
                    rgb = rgb.copy()  # a fresh array per frame, so each is counted once
                    meter.alive += 1
                    meter.decoded += 1
                    meter.peak = max(meter.peak, meter.alive)
                    weakref.finalize(rgb, meter._gone)
                yield index, rgb

        return iterate


def test_a_long_clip_streams_through_a_window_of_frames(tmp_path, style_path, monkeypatch):
    n = 1000  # measured: 7 frames alive at most, at 1000 frames as at 2000 (all held: n)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    frames = np.stack([np.roll(base, i % 16, axis=1) for i in range(n)])
    clip = x264_clip(frames, tmp_path / "long.mp4", gop=50)
    live = LiveFrames()
    monkeypatch.setattr(decode.FrameStream, "__iter__", live.wrap(decode.FrameStream.__iter__))

    def copy(self, content, flow_mask=None):  # the frame pipeline is under test, not the engine
        self.previous = content.astype(np.float32) / 255
        return content.copy(), {}, 0.0

    monkeypatch.setattr(runner.FrameStylizer, "frame", copy)
    monkeypatch.setattr(metrics.FrameScorer, "frame_loss", lambda self, o, s: [0.0] * len(s))
    cfg = tiny_config(size=16, **{"video.temporal": "independent"})
    report = stylize_video(clip, [style_path], tmp_path / "out.mp4", cfg, run_dir=tmp_path / "run")
    assert report.frames == n and report.computed == n
    assert live.decoded >= 2 * n  # every frame decoded for the chain and for the output
    assert live.peak <= 16, f"{live.peak} decoded frames alive at once"
    assert len(encode.read_video(report.output)) == n


def test_seeking_gives_the_same_frames_as_decoding_from_the_start(tmp_path):
    frames = square_frames(30, 64, 48, step=1)
    for clip in (x264_clip(frames, tmp_path / "b.mp4", gop=7), write_clip(frames, tmp_path / "m.mp4")):
        info = decode.open_video(clip)
        everything = decode.read_frames(info, (64, 48))
        for first in (1, 7, 13, 20):
            part = decode.read_frames(info, (64, 48), range(first, first + 5))
            assert np.array_equal(part, everything[first : first + 5]), (clip.name, first)


def luma_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean(((a.astype(np.float64) - b) @ np.array([0.299, 0.587, 0.114])) ** 2)
    return float(10 * np.log10(255.0**2 / mse)) if mse else float("inf")


def test_the_output_is_one_encode_of_the_stylised_frames(tmp_path, style_path):
    clip = x264_clip(smooth_pan(16, 96, 72), tmp_path / "in.mp4", fps=12.0)
    cfg = tiny_config(size=96, **{"video.temporal": "independent", "video.first_frame_steps": 1})
    run = tmp_path / "run"
    report = stylize_video(clip, [style_path], tmp_path / "out.mp4", cfg, run_dir=run, keep_frames=True)
    assert report.encoder == "ffmpeg libx264"
    pngs = sorted((run / "frames" / "chunk000").glob("*.png"))
    stylised = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in pngs])
    written = encode.read_video(report.output)
    assert written.shape == stylised.shape == (16, 72, 96, 3)
    # x264 keeps luma at full resolution (yuv420p halves chroma): 40-45 dB after one crf-18 encode
    assert luma_psnr(written, stylised) >= 38
    # and the output is that one encode: the same as x264 straight from the PNG frames
    direct = tmp_path / "direct.mp4"
    cmd = [encode.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-framerate", "12"]
    cmd += ["-i", str(run / "frames" / "chunk000" / "%06d.png"), "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    subprocess.run([*cmd, "-crf", "18", "-preset", "medium", str(direct)], check=True)
    assert luma_psnr(written, encode.read_video(direct)) >= 50


def test_crf_0_is_lossless_up_to_the_colour_conversion(tmp_path):
    """crf 0 is x264's lossless mode in 4:4:4: only RGB <-> YUV rounding remains (measured on
    noise and on gradients: at most 2 levels, mean 0.4), where crf 18 in 4:2:0 loses up to 244
    levels on noise."""
    frames = np.random.default_rng(0).integers(0, 256, (8, 48, 64, 3), dtype=np.uint8)
    encoder = encode.FrameEncoder(tmp_path, (64, 48), 12.0, crf=0)
    for frame in frames:
        encoder.write(frame)
    assert encoder.close() == 8
    back = encode.read_video(encoder.path).astype(int)
    assert back.shape == frames.shape
    assert np.abs(back - frames).max() <= 3
    assert np.abs(back - frames).mean() < 1.0


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("temporal", ["warped", "previous"])
def test_a_resumed_run_equals_an_uninterrupted_one_bit_for_bit(tmp_path, style_path, temporal):
    clip = write_clip(square_frames(10, 64, 48), tmp_path / "in.mp4")
    cfg = tiny_config(**{"video.temporal": temporal, "video.frame_steps": 3})

    def frames(run) -> np.ndarray:
        state = VideoState(run, "inspect")
        out = np.stack([state.load(Chunk(0, 0, 0, None), t) for t in range(10)])
        state.close()
        return out

    whole = tmp_path / "whole"
    stylize_video(clip, [style_path], tmp_path / "a.mp4", cfg, run_dir=whole, keep_frames=True)

    def stop_at_5(info) -> None:
        if info.frame == 5 and not info.resumed:
            raise Interrupt

    parts = tmp_path / "parts"
    with pytest.raises(Interrupt):
        stylize_video(clip, [style_path], tmp_path / "b.mp4", cfg, run_dir=parts, callback=stop_at_5)
    assert not (tmp_path / "b.mp4").exists()
    report = stylize_video(clip, [style_path], tmp_path / "b.mp4", cfg, run_dir=parts, keep_frames=True)
    assert report.resumed == 6 and report.computed == 4
    assert np.array_equal(frames(parts), frames(whole))


def test_video_output_gets_the_usual_file_mode(tmp_path, style_path):
    clip = write_clip(pan_frames(4), tmp_path / "in.mp4")
    cfg = tiny_config(**{"video.temporal": "independent", "video.first_frame_steps": 0})
    report = stylize_video(clip, [style_path], tmp_path / "out.mp4", cfg, run_dir=tmp_path / "run")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(report.output.stat().st_mode) == 0o644 & ~umask
