"""Optical flow, the reliability mask (Ruder et al. 2016) and the warping error (Lai et al. 2018)."""

from __future__ import annotations

import numpy as np
import pytest

from stylebatch.video import cuts, flow, metrics

from .video_clips import square_frames, textured


def translated(dx: int, dy: int, width: int = 96, height: int = 72):
    """Frames t-1 and t of a camera moving by (dx, dy): frame t(x) = frame t-1(x + (dx, dy))."""
    big = textured(width + 16, height + 16, 5)
    previous = big[4 : 4 + height, 4 : 4 + width]
    current = big[4 + dy : 4 + dy + height, 4 + dx : 4 + dx + width]
    return previous, current


def test_flow_recovers_a_translation_and_warping_reproduces_the_frame():
    previous, current = translated(3, 2)
    w, mask = flow.flow_and_mask(current, previous)
    reliable = mask > 0
    assert reliable.mean() > 0.8
    assert np.allclose(np.median(w[reliable], axis=0), [3, 2], atol=0.25)
    warped = flow.warp(previous.astype(np.float32), w)
    error = np.abs(warped - current.astype(np.float32)).mean(-1)
    assert error[reliable].mean() < 4.0  # of 255: bilinear sampling of a smooth texture
    assert error[reliable].mean() < 0.25 * error[~reliable].mean() or (~reliable).sum() < 50


def test_mask_marks_pixels_that_leave_the_frame():
    previous, current = translated(4, 0)
    _, mask = flow.flow_and_mask(current, previous)
    # x + w(x) lies right of the last column for the last 4 columns: known analytically
    assert mask[:, -4:].max() == 0
    assert mask[8:-8, 8:-8].mean() > 0.9


def test_mask_marks_the_disoccluded_band_behind_a_moving_square():
    frames = square_frames(n=2, width=96, height=72, side=24, step=4)
    w, mask = flow.flow_and_mask(frames[1], frames[0])
    # frame 1 has the square at x = 14..37 (rows 16..39); x = 10..13 was covered in frame 0
    band = mask[18:38, 10:14]
    assert band.mean() < 0.3
    far = np.ones_like(mask, dtype=bool)
    far[8:48, 0:50] = False
    assert mask[far].mean() > 0.9
    assert np.median(w[20:36, 18:34, 0]) == pytest.approx(-4, abs=0.5)  # the square moved right


def test_motion_boundary_term_alone():
    w = np.zeros((20, 20, 2), np.float32)
    w[:, 10:, 0] = 5.0  # a step in u: a motion boundary at columns 9-10
    mask = flow.reliability(w, -w)
    assert mask[:, 9:11].max() == 0
    assert mask[:, :8].min() == 1


def test_warp_error_is_zero_for_a_static_video():
    frame = textured(64, 48, 3)
    video = np.stack([frame] * 4)
    result = metrics.warp_error(video, video)
    assert result.mean == pytest.approx(0.0, abs=1e-9)
    assert len(result.pairs) == 3


def test_warp_error_of_a_constructed_case():
    originals = np.stack([textured(64, 48, 3)] * 3)  # static: F = 0, M = 1 everywhere
    outputs = np.zeros((3, 48, 64, 3), np.float32)
    outputs[0] = (0.2, 0.4, 0.6)
    outputs[1] = (0.5, 0.4, 0.6)  # red differs by 0.3: E = 0.3^2 / 3 = 0.03
    outputs[2] = (0.5, 0.4, 0.6)  # identical: E = 0
    result = metrics.warp_error(originals, outputs)
    assert result.pairs == pytest.approx([0.03, 0.0], abs=1e-6)
    assert result.mean == pytest.approx(0.015, abs=1e-6)


def test_scene_cuts_split_shots():
    a = np.stack([textured(64, 48, 1) // 4] * 4)  # a dark shot, then a bright one
    b = 255 - np.stack([textured(64, 48, 2) // 4] * 3)
    assert cuts.shots(np.concatenate([a, b]), 0.35) == [(0, 4), (4, 7)]
    assert cuts.shots(a, 0.35) == [(0, 4)]
