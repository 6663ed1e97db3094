"""Splitting and reassembly: frame count, rate, duration, audio, rotation, odd sizes, bad input."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from typer.testing import CliRunner

from stylebatch.cli import app
from stylebatch.errors import InputError
from stylebatch.video import decode, encode, stylize_video

from .video_clips import one_thread, pan_frames, stream_durations, tiny_config, write_clip  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread (see video_clips)

needs_ffmpeg = pytest.mark.skipif(
    encode.ffmpeg_exe() is None, reason="imageio-ffmpeg has no ffmpeg binary here"
)


@needs_ffmpeg
def test_frames_rate_duration_and_audio_are_kept(tmp_path, style_path):
    frames = pan_frames(14, width=63, height=47)  # odd input size
    clip = write_clip(frames, tmp_path / "in clip.mp4", fps=12.0, audio=True)
    cfg = tiny_config(**{"video.temporal": "independent", "video.first_frame_steps": 1})
    report = stylize_video(clip, [style_path], tmp_path / "out.mp4", cfg, run_dir=tmp_path / "run")
    assert report.frames == 14 and report.fps == pytest.approx(12.0)
    assert report.size == (48, 36)  # longest side 48, both even
    assert report.audio == "copied"
    written = encode.read_video(report.output)
    assert written.shape == (14, 36, 48, 3)
    durations = stream_durations(report.output)
    assert durations["video"] == pytest.approx(14 / 12, abs=0.05)
    assert durations["audio"] == pytest.approx(durations["video"], abs=0.1)
    data = json.loads((tmp_path / "run" / "video_report.json").read_text())
    assert data["frames"] == 14 and len(data["warp_error"]["pairs"]) == 13
    assert "<svg" in (tmp_path / "run" / "video_report.html").read_text()
    assert not (tmp_path / "run" / "frames").exists()  # not kept unless --keep-frames


@needs_ffmpeg
def test_start_end_select_frames_and_trim_audio(tmp_path, style_path):
    clip = write_clip(pan_frames(24), tmp_path / "in.mp4", fps=12.0, audio=True)
    cfg = tiny_config(**{"video.temporal": "previous", "video.first_frame_steps": 1, "video.frame_steps": 1})
    report = stylize_video(
        clip,
        [style_path],
        tmp_path / "out.mp4",
        cfg,
        run_dir=tmp_path / "run",
        start=0.5,
        end=1.5,
        keep_frames=True,
    )
    assert report.frames == 12
    durations = stream_durations(report.output)
    assert durations["video"] == pytest.approx(1.0, abs=0.05)
    assert durations["audio"] == pytest.approx(1.0, abs=0.1)
    assert len(list((tmp_path / "run" / "frames").rglob("*.png"))) == 12


@needs_ffmpeg
def test_rotation_metadata_is_honoured(tmp_path):
    frames = pan_frames(4, width=64, height=48)
    clip = write_clip(frames, tmp_path / "rot.mp4", rotate=90)
    info = decode.probe(clip)
    assert (info.width, info.height) == (48, 64) and info.rotation in (90, 270)
    read = decode.read_frames(info, (48, 64))
    # -display_rotation 90 turns the picture counter-clockwise
    expected = np.rot90(frames[0], k=1).astype(np.float32)
    other = np.rot90(frames[0], k=-1).astype(np.float32)
    assert np.abs(read[0] - expected).mean() < 12 < np.abs(read[0] - other).mean()


def test_working_size_is_even_and_never_upscaled():
    assert decode.working_size(63, 47, 48) == (48, 36)
    assert decode.working_size(33, 21, 512) == (32, 20)  # odd sides round to even, never up
    assert decode.working_size(1920, 1080, 512) == (512, 288)


@pytest.mark.parametrize("content", [b"", b"not a video at all"])
def test_unreadable_video_is_an_input_error(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(InputError, match="bad.mp4"):
        decode.probe(path)
    with pytest.raises(InputError, match="not found"):
        decode.probe(tmp_path / "missing.mp4")


def test_corrupt_frame_mid_stream_repeats_the_previous(tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    path = tmp_path / "m.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 12, (64, 48))
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(8)]
    for f in frames:
        writer.write(f)
    writer.release()
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    data[starts[4] : starts[4] + 400] = bytes(400)  # wipe the JPEG header of frame 4
    path.write_bytes(bytes(data))
    info = decode.probe(path)
    assert info.frames == 8 and info.corrupt == [4] and not info.variable_rate
    read = decode.read_frames(info, (64, 48))
    assert np.array_equal(read[4], read[3])


def test_real_clip_probe(shared_data):
    clip = shared_data / "video" / "realshort.mp4"
    if not clip.exists():
        pytest.skip("realshort.mp4 is not present")
    info = decode.probe(clip)
    assert info.frames > 10 and 20 < info.fps < 61
    if encode.ffmpeg_exe():
        assert encode.has_audio(clip)


@needs_ffmpeg
def test_cli_video_and_metrics(tmp_path, style_path):
    clip = write_clip(pan_frames(8), tmp_path / "in.mp4", fps=12.0, audio=True)
    out = tmp_path / "out.mp4"
    runner = CliRunner()
    args = ["video", str(clip), "--style", str(style_path), "--out", str(out), "--weights", "random"]
    args += ["--size", "48", "--steps", "1", "--set", "video.first_frame_steps=2", "--set", "scales=1", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert out.exists() and (tmp_path / "out.mp4.run" / "video_report.html").exists()
    result = runner.invoke(app, ["metrics", "warp-error", str(clip), str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["warp_error"]["pairs"]) == 7 and data["warp_error"]["mean"] >= 0


def test_cli_rejects_bad_temporal_mode(tmp_path, style_path):
    result = CliRunner().invoke(
        app,
        [
            "video",
            "x.mp4",
            "--style",
            str(style_path),
            "--out",
            str(tmp_path / "o.mp4"),
            "--temporal",
            "nope",
        ],
    )
    assert result.exit_code == 2


@needs_ffmpeg
def test_variable_rate_input_becomes_constant_rate_at_its_average(tmp_path, style_path):
    raw = write_clip(pan_frames(18), tmp_path / "cfr.mp4", fps=12.0)
    clip = tmp_path / "vfr.mp4"
    # 12 frames at 12 fps, then 6 frames at 6 fps: 2 s in all
    setpts = "setpts='if(lt(N,12),N/12,(N-12)/6+1)/TB'"
    cmd = [encode.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(raw), "-vf", setpts]
    subprocess.run([*cmd, "-fps_mode", "vfr", "-c:v", "libx264", str(clip)], check=True)
    info = decode.probe(clip)
    assert info.variable_rate and info.frames == 18
    cfg = tiny_config(**{"video.temporal": "independent", "video.first_frame_steps": 0})
    report = stylize_video(clip, [style_path], tmp_path / "out.mp4", cfg, run_dir=tmp_path / "run")
    assert any("variable frame rate" in note for note in report.notes)
    assert report.frames == 18 and report.fps == pytest.approx(info.fps)
    assert stream_durations(report.output)["video"] == pytest.approx(18 / info.fps, abs=0.1)
