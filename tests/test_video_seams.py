"""Seams between parallel chunks must not show: every pair in a seam band within 1.5x the same
pair of one unbroken chain, and the mean warping error within 1.1x one chain's (issue 9).

The issue's wording compares seam pairs with the clip's median pair; on this pan one unbroken
chain already has pairs at 1.9-2.4x its median in the band (content entering the frame, the
chain settling after the first frame), so the seam is measured against the same pairs of one
chain. Measured here (60 frames, 64x48, two chunks, 2026-11-25): a 12-frame band gave 1.24x
and a mean of 1.12x; the default 24-frame band 1.09x and 0.99x. On benchmarks/video_seams.py's
120-frame motion clip with settled chains (20 steps per frame): 1.22x and 0.993 (2 chunks),
1.29x and 0.992 (4 chunks).
"""

from __future__ import annotations

import pytest

from stylebatch.video import encode, stylize_video

from .video_clips import one_thread, pan_frames, tiny_config, write_clip  # noqa: F401

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.skipif(encode.ffmpeg_exe() is None, reason="imageio-ffmpeg has no ffmpeg binary here"),
]

SETTINGS = {"video.frame_steps": 4, "video.first_frame_steps": 8, "video.min_chunk_frames": 8}


def test_two_workers_seam_on_a_pan_within_1_5x_one_chain(ray_session, tmp_path, style_path):
    clip = write_clip(pan_frames(60, 64, 48), tmp_path / "pan.mp4")
    cfg = tiny_config(**SETTINGS)
    one = stylize_video(clip, [style_path], tmp_path / "one.mp4", cfg, run_dir=tmp_path / "one")
    two = stylize_video(clip, [style_path], tmp_path / "two.mp4", cfg, run_dir=tmp_path / "two", workers=2)
    assert two.seams == [30] and one.seams == []
    pairs = dict(zip(two.pair_frames, two.pair_errors, strict=True))
    seam_pairs = two.seam_summary["seam_pairs"]
    assert seam_pairs and all(t in pairs for t in seam_pairs)
    own = dict(zip(one.pair_frames, one.pair_errors, strict=True))
    ratios = {t: pairs[t] / own[t] for t in seam_pairs}
    assert max(ratios.values()) <= 1.5, ratios
    assert two.warp_error <= 1.1 * one.warp_error, two.warp_error / one.warp_error
