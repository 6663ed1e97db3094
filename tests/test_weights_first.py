"""Issue #10, finding 6: weights are resolved on the driver before any worker starts (one message,
exit 2, no Ray traceback), and workers get them through Ray's object store, not from a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stylebatch import weights
from stylebatch.batch import manifest as mf
from stylebatch.batch import scheduler
from stylebatch.cli import app
from stylebatch.config import StyleConfig

from .faultkit import image_manifest, tiny_image

runner = CliRunner()
TINY = ["--size", "32", "--steps", "2", "--set", "scales=1", "--device", "cpu"]


@pytest.fixture
def no_weights(monkeypatch, tmp_path: Path) -> None:
    """No cached download and no internet (STYLEBATCH_OFFLINE=1, set for every test)."""
    monkeypatch.setattr(weights, "default_cache_path", lambda: tmp_path / "absent" / "vgg19-dcbb9e9d.pth")


def _check_one_message(result) -> None:
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.output.count("Three ways out") == 1, result.output
    assert "Traceback" not in result.output and "images/hour" not in result.output
    assert "Unhandled error" not in result.output


def test_folder_without_weights_is_one_message(no_weights, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        tiny_image(photos / f"p{i}.png", i)
    style = tiny_image(tmp_path / "s.png", 9)
    out = tmp_path / "out"
    _check_one_message(
        runner.invoke(app, ["folder", str(photos), "--style", str(style), "--out", str(out), *TINY])
    )
    assert not out.exists()  # nothing started, nothing written


def test_run_without_weights_is_one_message(no_weights, tmp_path: Path) -> None:
    manifest = image_manifest(tmp_path / "in", 3)
    _check_one_message(runner.invoke(app, ["run", str(manifest), "--out", str(tmp_path / "o"), *TINY]))


def test_video_without_weights_is_one_message(no_weights, tmp_path: Path) -> None:
    from .video_clips import pan_frames, write_clip

    clip = write_clip(pan_frames(4, 32, 24), tmp_path / "clip.mp4")
    style = tiny_image(tmp_path / "s.png", 9)
    args = ["video", str(clip), "--style", str(style), "--out", str(tmp_path / "o.mp4"), "--workers", "2"]
    _check_one_message(runner.invoke(app, [*args, "--size", "32", "--device", "cpu"]))


def test_workers_get_the_weights_through_the_object_store(ray_session, tmp_path: Path) -> None:
    """The file exists on the driver only while it resolves it: workers never open it."""
    path = weights.export(tmp_path / "vgg19-features.pth", "random:3")
    cfg = StyleConfig(size=32, steps=2, scales=1, weights=str(path), device="cpu")
    entries = scheduler.prepare(mf.parse(image_manifest(tmp_path / "in", 2), cfg).jobs, cfg)
    identity = weights.resolve(str(path)).identity
    path.unlink()  # as on a node that never had it
    try:
        summary = scheduler.run_batch(tmp_path / "run", entries, scheduler.RunOptions(workers=1), cfg)
    finally:
        scheduler.release_workers()
    assert summary.failed == 0 and summary.done == 2
    sidecars = [json.loads(p.read_text()) for p in (tmp_path / "run").glob("*.png.json")]
    assert [s["weights"] for s in sidecars] == [identity, identity]
