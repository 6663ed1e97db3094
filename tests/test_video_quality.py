"""The two-sided video quality measure: warping error, detail retention, fidelity."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from stylebatch.engine.scorer import Scorer
from stylebatch.video import flow, metrics

from .conftest import synthetic_style
from .video_clips import one_thread, pan_frames, square_frames  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def noisy(frames: np.ndarray, seed: int = 0, amount: int = 40) -> np.ndarray:
    """A stand-in for a stylised video: the frames plus independent noise per frame (flicker)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(-amount, amount, frames.shape)
    return np.clip(frames.astype(int) + noise, 0, 255).astype(np.uint8)


def test_meter_warp_error_equals_the_batch_function():
    originals = np.concatenate([square_frames(5, 64, 48), pan_frames(4, 64, 48)])
    stylised = noisy(originals)
    shots = [(0, 5), (5, 9)]
    batch, floor = metrics.warp_errors(originals, [stylised, originals], shots)
    meter = metrics.QualityMeter()
    for t in range(len(originals)):
        meter.add(t, originals[t], stylised[t], new_shot=t in (0, 5), seam=t == 3)
    q = meter.result()
    assert q.warp_error.frames == batch.frames == [0, 1, 2, 3, 5, 6, 7]
    assert q.warp_error.pairs == pytest.approx(batch.pairs, rel=1e-6)
    assert q.warp_error.mean == pytest.approx(batch.mean, rel=1e-6)
    assert q.warp_error_input.pairs == pytest.approx(floor.pairs, rel=1e-6)
    assert q.cuts == [5] and q.seam_pairs == [2]
    assert q.warp_error_reference is None and q.detail_basis == "shot's first frame"


def test_meter_reuses_the_runs_flows():
    originals = pan_frames(4, 64, 48)
    stylised = noisy(originals)
    plain, reused = metrics.QualityMeter(), metrics.QualityMeter()
    for t in range(4):
        plain.add(t, originals[t], stylised[t], new_shot=t == 0)
        flows = None
        if t:
            w, _, w_back = flow.flows_and_mask(originals[t], originals[t - 1])
            flows = (w_back, w)  # (t-1 -> t, t -> t-1), as the docstring says
        reused.add(t, originals[t], stylised[t], new_shot=t == 0, flows=flows)
    assert reused.result().warp_error.pairs == plain.result().warp_error.pairs


def test_detail_of_itself_is_one_and_of_a_blurred_copy_below():
    originals = pan_frames(3, 64, 48)
    stylised = noisy(originals, amount=20)
    blurred = np.stack([cv2.GaussianBlur(f, (5, 5), 1.0) for f in stylised])
    same, soft = metrics.QualityMeter(), metrics.QualityMeter()
    for t in range(3):
        same.add(t, originals[t], stylised[t], new_shot=t == 0, reference=stylised[t])
        soft.add(t, originals[t], blurred[t], new_shot=t == 0, reference=stylised[t])
    assert same.result().detail == [1.0, 1.0, 1.0]
    assert (
        max(soft.result().detail) < 0.5
    )  # measured: a 5x5 sigma-1 blur keeps ~0.10 of this noise's |Laplacian|
    assert soft.result().detail_basis == "independent"
    # the independent stream's own consistency comes along, on the same flows
    q = soft.result()
    assert q.warp_error_reference is not None and len(q.warp_error_reference.pairs) == 2


def test_detail_without_reference_is_relative_to_the_shots_first_frame():
    originals = pan_frames(4, 64, 48)
    stylised = noisy(originals, amount=20)
    stylised[2] = cv2.GaussianBlur(stylised[2], (5, 5), 1.0)
    meter = metrics.QualityMeter()
    for t in range(4):
        meter.add(t, originals[t], stylised[t], new_shot=t in (0, 3))
    q = meter.result()
    assert q.detail[0] == 1.0 and q.detail[3] == 1.0  # each shot's first frame is its own basis
    assert q.detail[2] < 0.6 < q.detail[1]


def test_fidelity_is_the_scorers_loss(tmp_path):
    originals = pan_frames(2, 64, 48)
    stylised = noisy(originals)
    style = torch.from_numpy(np.array(synthetic_style(48))).permute(2, 0, 1).float() / 255
    meter = metrics.QualityMeter(style_targets=[style], weights_spec="random")
    for t in range(2):
        meter.add(t, originals[t], stylised[t], new_shot=t == 0, reference=originals[t])
    q = meter.result()
    for t in range(2):
        content = torch.from_numpy(originals[t]).permute(2, 0, 1).float() / 255
        scorer = Scorer(content, style, weights_spec="random")
        expected = scorer(torch.from_numpy(stylised[t]).permute(2, 0, 1).float()[None] / 255)[0].total
        assert q.fidelity[t] == pytest.approx(expected, rel=1e-6)
    ref_mean = np.mean(q.fidelity_reference)
    assert q.fidelity_ratio == pytest.approx([f / ref_mean for f in q.fidelity], rel=1e-9)
    assert q.fidelity[0] > q.fidelity_reference[0]  # noise costs content loss against the original


def test_verdict_needs_all_three():
    originals = pan_frames(3, 64, 48)
    independent = noisy(originals, seed=1)
    smeared = np.stack([cv2.GaussianBlur(independent[0], (9, 9), 3.0)] * 3)  # consistent, blurred
    meter = metrics.QualityMeter()
    for t in range(3):
        meter.add(t, originals[t], smeared[t], new_shot=t == 0, reference=independent[t])
    verdict = meter.result().verdict()
    assert verdict["detail"] is False and verdict["good"] is False
    assert verdict["fidelity"] is None  # no scorer given


def test_frames_must_come_in_order():
    frame = pan_frames(1, 64, 48)[0]
    meter = metrics.QualityMeter()
    meter.add(0, frame, frame, new_shot=True)
    with pytest.raises(ValueError, match="in order"):
        meter.add(2, frame, frame, new_shot=False)


def test_cli_video_quality_streams_files_and_writes_the_report(tmp_path, style_path):
    from typer.testing import CliRunner

    from stylebatch.cli import app

    from .video_clips import write_clip

    originals = pan_frames(8, 64, 48)
    original = write_clip(originals, tmp_path / "orig.mp4")
    stylised = write_clip(noisy(originals, seed=1), tmp_path / "styl.mp4")
    reference = write_clip(noisy(originals, seed=2), tmp_path / "ref.mp4")
    args = ["metrics", "video-quality", str(original), str(stylised), "--reference", str(reference)]
    args += ["--style", str(style_path), "--weights", "random", "--report", str(tmp_path / "rep"), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["frames"] == 8 and len(data["warp_error"]["pairs"]) == 7
    assert len(data["detail"]) == len(data["fidelity"]) == len(data["fidelity_reference"]) == 8
    assert data["warp_error_reference"]["mean"] > 0 and data["detail_basis"] == "independent"
    page = (tmp_path / "rep" / "video_report.html").read_text()
    assert page.count("<svg") == 3 and "data:image/jpeg;base64," in page

    # the old command streams through the same meter and gives the same numbers
    result = CliRunner().invoke(app, ["metrics", "warp-error", str(original), str(stylised), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["warp_error"]["pairs"] == data["warp_error"]["pairs"]


def test_cli_video_quality_names_a_missing_file(tmp_path):
    from typer.testing import CliRunner

    from stylebatch.cli import app

    from .video_clips import write_clip

    original = write_clip(pan_frames(3, 64, 48), tmp_path / "orig.mp4")
    result = CliRunner().invoke(app, ["metrics", "video-quality", str(original), str(tmp_path / "nope.mp4")])
    assert result.exit_code == 1  # an input that cannot be measured: the work failed (InputError)
    assert "nope.mp4: file not found" in result.output and "Traceback" not in result.output
