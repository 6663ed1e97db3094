"""The Ray path: two chunks on two actors, flows as Ray tasks, the seam cross-faded."""

from __future__ import annotations

import numpy as np
import pytest

from stylebatch.video import chunks, stylize_video
from stylebatch.video.api import _assembled
from stylebatch.video.state import VideoState

from .video_clips import pan_frames, tiny_config, write_clip


def test_chunk_plan_and_cross_fade_weights():
    video = tiny_config(**{"video.min_chunk_frames": 4, "video.overlap": 3}).video
    plan = chunks.plan([(0, 16)], 2, video)
    assert [(c.first, c.start, c.end) for c in plan] == [(0, 0, 8), (5, 8, 16)]
    assert chunks.seams(plan) == [8]
    weights = [dict((c.index, w) for c, w in chunks.sources(plan, t)) for t in (4, 5, 6, 7, 8)]
    assert weights == [{0: 1.0}, {0: 0.75, 1: 0.25}, {0: 0.5, 1: 0.5}, {0: 0.25, 1: 0.75}, {1: 1.0}]
    # a short shot is not split below min_chunk_frames; cuts always split
    assert len(chunks.plan([(0, 6)], 4, video)) == 1
    assert [(c.first, c.end) for c in chunks.plan([(0, 5), (5, 9)], 1, video)] == [(0, 5), (5, 9)]


def test_two_chunks_on_ray_actors_with_a_cross_faded_seam(ray_session, tmp_path, style_path):
    clip = write_clip(pan_frames(16), tmp_path / "pan.mp4")
    cfg = tiny_config(**{"video.min_chunk_frames": 4, "video.overlap": 3, "video.frame_steps": 1})
    run_dir = tmp_path / "run"
    report = stylize_video(
        clip, [style_path], tmp_path / "out.mp4", cfg, run_dir=run_dir, workers=2, keep_frames=True
    )
    assert report.chunks == [(0, 0, 8), (5, 8, 16)] and report.seams == [8]
    assert report.computed == 16  # the 3 warm-up frames of chunk 1 are extra work, not output
    assert report.frames == 16 and report.seam_summary["seam_mean"] is not None
    # frames 5-7 are a linear cross-fade of both chunks' results
    plan = chunks.plan(report.shots, 2, cfg.video)
    state = VideoState(run_dir, "inspect")
    final = list(_assembled(plan, 16, state))
    a, b = state.load(plan[0], 6).astype(np.float32), state.load(plan[1], 6).astype(np.float32)
    assert np.abs(final[6] - (a + b) / 2).max() <= 1
    assert np.abs(a - b).mean() > 0.5  # the chunks really differ there: the fade matters
    assert np.array_equal(final[9], state.load(plan[1], 9))
    state.close()
    assert report.warp_error == pytest.approx(np.mean(report.pair_errors))
