"""Resume at scale boundaries (#14): a kept scale gives the same result as an unbroken run."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from stylebatch import api, pipelines
from stylebatch.checkpoints import CheckpointFile
from stylebatch.cli import app
from stylebatch.engine import stylize_tensors
from stylebatch.engine.datatypes import ScaleState
from stylebatch.images import pil_to_tensor

from .conftest import synthetic_photo, synthetic_style

# two scales, shallow layers: the smallest run that has a scale boundary (and tiles, below)
SETTINGS = dict(
    size=64,
    scales=2,
    steps=3,
    coarse_steps=3,
    weights="random",
    device="cpu",
    min_scale_size=32,
    style_layers="relu1_1,relu2_1,relu3_1",
    content_layers="relu3_1",
)


class Stop(Exception):
    pass


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    return pil_to_tensor(synthetic_photo(64, 48)), pil_to_tensor(synthetic_style(48))


def test_resumed_engine_run_equals_unbroken_run():
    cfg = pipelines.load("default", SETTINGS)
    content, style = _inputs()
    kept: list[tuple[int, torch.Tensor]] = []
    whole = stylize_tensors(content, [style], cfg, on_scale=lambda i, img: kept.append((i, img.clone())))
    assert [i for i, _ in kept] == [0]  # every scale but the last
    resumed = stylize_tensors(content, [style], cfg, resume=kept[0])
    assert torch.equal(resumed.image, whole.image)
    assert resumed.resumed_after == 0 and whole.resumed_after is None
    assert resumed.steps == cfg.steps  # only the final scale ran


def test_interrupted_job_resumes_from_its_checkpoint(tmp_path):
    content, style = _inputs()
    whole = api.stylize(content, style, "default", **SETTINGS)
    checkpoint = CheckpointFile(tmp_path / "job.pt", "job-1", after=0)

    def stop_in_last_scale(info):
        if info.scale == 1:
            raise Stop

    try:
        api.stylize(content, style, "default", callback=stop_in_last_scale, checkpoint=checkpoint, **SETTINGS)
        raise AssertionError("the callback should have stopped the run")
    except Stop:
        pass
    assert checkpoint.load() is not None and checkpoint.load().scale == 0
    again = api.stylize(content, style, "default", checkpoint=checkpoint, **SETTINGS)
    assert torch.equal(again.tensor, whole.tensor)
    assert again.sidecar()["resumed_after_scale"] == 0
    assert not checkpoint.path.exists()  # removed once the job finished


def test_checkpoint_of_another_job_or_damaged_is_ignored(tmp_path):
    path = tmp_path / "job.pt"
    CheckpointFile(path, "job-1").save(0, torch.rand(1, 3, 8, 8))
    assert CheckpointFile(path, "job-2").load() is None
    assert CheckpointFile(path, "job-1").load().image.shape == (1, 3, 8, 8)
    path.write_bytes(b"not a checkpoint")
    assert CheckpointFile(path, "job-1").load() is None


def test_young_job_writes_no_checkpoint(tmp_path):
    checkpoint = CheckpointFile(tmp_path / "job.pt", "job-1", after=3600)
    checkpoint.on_scale(0, torch.rand(1, 3, 8, 8))
    assert not checkpoint.path.exists()


def test_image_command_records_tiling_in_the_sidecar(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    photo, style, out = tmp_path / "photo.png", tmp_path / "style.png", tmp_path / "out.png"
    synthetic_photo(96, 72).save(photo)
    synthetic_style(48).save(style)
    args = ["image", str(photo), str(style), "-o", str(out), "--size", "96", "--steps", "2", "-q"]
    args += ["--weights", "random", "--device", "cpu", "--set", "scales=1", "--set", "max_tile_pixels=2304"]
    args += ["--set", "style_layers=relu1_1,relu2_1,relu3_1", "--set", "content_layers=relu3_1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    import json

    sidecar = json.loads(out.with_name("out.png.json").read_text())
    assert sidecar["tiling"] and "tiles" in sidecar["tiling"][0]
    assert not any((tmp_path / "cache").rglob("*.pt"))  # nothing left behind


@pytest.mark.parametrize(
    "extra",
    [
        {"optimizer": "lbfgs"},
        {"optimizer": "adam"},
        {"max_tile_pixels": 32 * 48},  # the final scale in tiles: tiled Adam (print size)
    ],
    ids=["lbfgs", "adam", "tiled"],
)
def test_resumed_inside_a_scale_equals_unbroken_run(tmp_path, extra):
    """A job stopped in the middle of its last scale goes on from the kept state (image,
    optimiser history, Adam's average) to exactly the unbroken run's pixels."""
    settings = {**SETTINGS, "steps": 6, "progress_every": 1, **extra}
    content, style = _inputs()
    whole = api.stylize(content, style, "default", **settings)
    # keep the state after every step (a job this old, this often), stop after step 4 of scale 1
    checkpoint = CheckpointFile(tmp_path / "job.pt", "job-1", after=0, every=0)

    def stop_in_last_scale(info):
        if info.scale == 1 and info.step == settings["coarse_steps"] + 4 and not info.tile:
            raise Stop

    with pytest.raises(Stop):
        api.stylize(content, style, "default", callback=stop_in_last_scale, checkpoint=checkpoint, **settings)
    kept = checkpoint.load()
    assert kept is not None and kept.state is not None
    assert (kept.scale, kept.state.step) == (1, 3)  # the report of step 4 stopped it before its save
    steps: list[int] = []
    again = api.stylize(
        content,
        style,
        "default",
        checkpoint=checkpoint,
        callback=lambda i: i.tile or steps.append(i.step),
        **settings,
    )
    assert torch.equal(again.tensor, whole.tensor)
    assert again.sidecar()["resumed_in_scale"] == {"scale": 1, "step": 3}
    # the progress goes on from step 4 of the last scale's 6 (the earlier scale is not counted)
    assert again.result.steps == 3 and (min(steps), max(steps)) == (4, 6)
    assert not checkpoint.path.exists()


def test_state_inside_a_scale_is_kept_at_most_every_interval(tmp_path):
    checkpoint = CheckpointFile(tmp_path / "job.pt", "job-1", after=0, every=3600)
    state = ScaleState(0, 2, torch.rand(1, 3, 8, 8), {"state": {}, "param_groups": []})
    checkpoint.on_step(state)  # the job just started: the interval counts from its start
    assert not checkpoint.path.exists()
    checkpoint.every = 0
    checkpoint.on_step(state)
    assert checkpoint.load().state.step == 2
