"""Seams between parallel chunks must not show: every seam pair within 1.5x the clip's median
pair, and the mean warping error within 1.1x one unbroken chain's (issue 9).

Measured at these settings on benchmarks/video_seams.py's 40-frame motion clip (64x48, two
chunks): the old 4-frame cross-fade with no warm-up gave a worst seam pair of 3.65x the median
and a mean 1.35x one chain's; an 8-frame cross-fade 1.88x and 1.19x.
"""

from __future__ import annotations

import numpy as np
import pytest

from stylebatch.video import encode, stylize_video

from .video_clips import one_thread, pan_frames, tiny_config, write_clip  # noqa: F401

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.skipif(encode.ffmpeg_exe() is None, reason="imageio-ffmpeg has no ffmpeg binary here"),
]

SETTINGS = {"video.frame_steps": 4, "video.first_frame_steps": 8, "video.min_chunk_frames": 8}


@pytest.mark.xfail(
    strict=True,
    reason="issue 9's seam target is not met: worst seam pair 2.40x the median on this clip and mean "
    "error 1.14x one chain's (2026-11-25; one unbroken chain already has 2.29x on the same pairs, "
    "so the 1.5x-of-median check also needs a clip without content events); XPASS means it is met",
)
def test_two_workers_leave_no_visible_seam(ray_session, tmp_path, style_path):
    clip = write_clip(pan_frames(60, 64, 48), tmp_path / "pan.mp4")
    cfg = tiny_config(**SETTINGS)
    one = stylize_video(clip, [style_path], tmp_path / "one.mp4", cfg, run_dir=tmp_path / "one")
    two = stylize_video(clip, [style_path], tmp_path / "two.mp4", cfg, run_dir=tmp_path / "two", workers=2)
    assert two.seams == [30] and one.seams == []
    pairs = dict(zip(two.pair_frames, two.pair_errors, strict=True))
    seam_pairs = two.seam_summary["seam_pairs"]
    assert seam_pairs and all(t in pairs for t in seam_pairs)
    median = float(np.median(two.pair_errors))
    worst = max(pairs[t] for t in seam_pairs)
    assert worst <= 1.5 * median, (worst / median, seam_pairs)
    assert two.warp_error <= 1.1 * one.warp_error, two.warp_error / one.warp_error
