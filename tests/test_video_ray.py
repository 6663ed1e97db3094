"""The Ray path: chunks on actors, flows as Ray tasks, seams cross-faded by the in-order writer."""

from __future__ import annotations

import numpy as np
import pytest

from stylebatch.video import chunks, stylize_video
from stylebatch.video.assemble import Assembler
from stylebatch.video.metrics import QualityMeter
from stylebatch.video.state import VideoState

from .video_clips import pan_frames, tiny_config, write_clip


def test_chunk_plan_and_cross_fade_weights():
    video = tiny_config(**{"video.min_chunk_frames": 4, "video.overlap": 3, "video.seam_warmup": 0}).video
    plan = chunks.plan(16, 2, video)
    assert [(c.first, c.blend, c.start, c.end) for c in plan] == [(0, 0, 0, 8), (5, 5, 8, None)]
    assert chunks.seams(plan) == [8]
    weights = [dict((c.index, w) for c, w in chunks.sources(plan, t)) for t in (4, 5, 6, 7, 8, 30)]
    assert weights == [{0: 1.0}, {0: 0.75, 1: 0.25}, {0: 0.5, 1: 0.5}, {0: 0.25, 1: 0.75}, {1: 1.0}, {1: 1.0}]
    # a cut inside the band restarted both chains: the next chunk alone
    assert [(c.index, w) for c, w in chunks.sources(plan, 6, cut_in_band=True)] == [(1, 1.0)]
    # warm-up frames before the band are computed, never shown
    settle = tiny_config(**{"video.min_chunk_frames": 4, "video.overlap": 3, "video.seam_warmup": 2}).video
    assert [(c.first, c.blend, c.start) for c in chunks.plan(16, 2, settle)] == [(0, 0, 0), (3, 5, 8)]
    # bands longer than a chunk stop at the previous chunk's start (realshort.mp4 in 4 chunks
    # with overlapping ramps had its worst seam pair at 4.5x the median)
    long_band = tiny_config(
        **{"video.min_chunk_frames": 4, "video.overlap": 12, "video.seam_warmup": 4}
    ).video
    assert [(c.blend, c.start) for c in chunks.plan(36, 4, long_band)] == [(0, 0), (0, 9), (9, 18), (18, 27)]
    # a short clip is not split below min_chunk_frames; an unknown length is one open chunk
    assert len(chunks.plan(6, 4, video)) == 1
    assert [(c.first, c.end) for c in chunks.plan(0, 4, video)] == [(0, None)]


class ListEncoder:
    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []

    def write(self, rgb: np.ndarray) -> None:
        self.frames.append(rgb)


def test_the_writer_cross_fades_in_order_as_chunks_finish(tmp_path):
    video = tiny_config(**{"video.min_chunk_frames": 4, "video.overlap": 3, "video.seam_warmup": 0}).video
    plan = chunks.plan(12, 2, video)  # [0, 6) and [3 (band), 6, end)
    originals = [(t, np.full((16, 16, 3), 100 + t, np.uint8)) for t in range(12)]
    state = VideoState(tmp_path, "k")
    out = ListEncoder()
    writer = Assembler(plan, state, originals, out, QualityMeter(filmstrip=False), cut_threshold=0.2)
    # chunk 1 runs ahead of chunk 0: nothing can be written until chunk 0 has frame 0
    for t in range(3, 12):
        state.save(plan[1], t, np.full((16, 16, 3), 200, np.uint8), 0.0, {})
        writer.finished(plan[1], t)
    assert out.frames == []
    for t in range(6):
        state.save(plan[0], t, np.full((16, 16, 3), 40, np.uint8), 0.0, {})
        writer.finished(plan[0], t)
    writer.drain()
    state.close()
    values = [int(f[0, 0, 0]) for f in out.frames]
    assert values == [40, 40, 40, 80, 120, 160, 200, 200, 200, 200, 200, 200]  # ramp 1/4, 2/4, 3/4
    assert writer.seams_shown == {6}


def test_two_chunks_on_ray_actors_with_a_cross_faded_seam(ray_session, tmp_path, style_path):
    clip = write_clip(pan_frames(16), tmp_path / "pan.mp4")
    cfg = tiny_config(
        **{"video.min_chunk_frames": 4, "video.overlap": 3, "video.seam_warmup": 0, "video.frame_steps": 1}
    )
    run_dir = tmp_path / "run"
    report = stylize_video(
        clip, [style_path], tmp_path / "out.mp4", cfg, run_dir=run_dir, workers=2, keep_frames=True
    )
    assert report.chunks == [(0, 0, 8), (5, 8, 16)] and report.seams == [8]
    assert report.computed == 16  # the 3 warm-up frames of chunk 1 are extra work, not output
    assert report.frames == 16 and report.seam_summary["seam_mean"] is not None
    assert report.seam_summary["seam_pairs"] == [4, 5, 6, 7]  # pairs touching frames 5-8
    plan = chunks.plan(16, 2, cfg.video)
    state = VideoState(run_dir, "inspect")
    a, b = state.load(plan[0], 6).astype(np.float32), state.load(plan[1], 6).astype(np.float32)
    assert np.abs(a - b).mean() > 0.5  # the chunks really differ there: the fade matters
    state.close()
    assert report.warp_error == pytest.approx(np.mean(report.pair_errors))


def test_the_cross_fade_keeps_the_texture_contrast():
    from stylebatch.video.assemble import cross_fade
    from stylebatch.video.metrics import detail

    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(2))
    both = (detail(a) + detail(b)) / 2
    plain = np.clip(np.rint(0.5 * a.astype(np.float32) + 0.5 * b), 0, 255).astype(np.uint8)
    assert detail(plain) < 0.75 * both  # what a plain mix does to unrelated textures
    assert detail(cross_fade(a, b, 0.5)) >= 0.9 * both  # measured 0.947 (a plain mix: 0.694)
    assert np.array_equal(cross_fade(a, b, 0.0), a) and np.array_equal(cross_fade(a, b, 1.0), b)
    flat_a, flat_b = np.full((48, 64, 3), 40, np.uint8), np.full((48, 64, 3), 200, np.uint8)
    assert int(cross_fade(flat_a, flat_b, 0.25)[0, 0, 0]) == 80  # coarse colour: the linear mix
