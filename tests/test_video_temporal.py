"""Temporal modes on a synthetic camera pan, and resuming an interrupted run."""

from __future__ import annotations

import pytest

from stylebatch.video import stylize_video

from .video_clips import one_thread, pan_frames, tiny_config, write_clip  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread (see video_clips)


@pytest.fixture(scope="module")
def pan_clip(tmp_path_factory):
    return write_clip(pan_frames(12), tmp_path_factory.mktemp("pan") / "pan.mp4")


def test_warped_mode_is_far_more_consistent_than_independent(pan_clip, style_path, tmp_path):
    errors = {}
    for mode in ("independent", "previous", "warped"):
        cfg = tiny_config(**{"video.temporal": mode, "video.frame_steps": 4, "video.first_frame_steps": 8})
        report = stylize_video(pan_clip, [style_path], tmp_path / f"{mode}.mp4", cfg, run_dir=tmp_path / mode)
        errors[mode] = report.warp_error
        floor = report.warp_error_input
    # measured on this clip: independent ~0.013, previous ~0.027, warped ~0.004; input ~0.0001
    assert errors["warped"] < 0.5 * errors["independent"]
    assert errors["warped"] < errors["previous"]
    assert floor < errors["warped"]


def test_resume_continues_after_the_last_finished_frame(pan_clip, style_path, tmp_path):
    cfg = tiny_config(**{"video.frame_steps": 1, "video.first_frame_steps": 2})
    run_dir = tmp_path / "run"

    class Stop(Exception):
        pass

    seen = []

    def interrupt(info):
        seen.append(info.frame)
        if len(seen) == 5:
            raise Stop

    with pytest.raises(Stop):
        stylize_video(pan_clip, [style_path], tmp_path / "out.mp4", cfg, run_dir=run_dir, callback=interrupt)
    finished = sorted((run_dir / "frames").rglob("*.png"))
    assert len(finished) == 5 and not (tmp_path / "out.mp4").exists()
    stamps = {p: p.stat().st_mtime_ns for p in finished}

    infos = []
    report = stylize_video(
        pan_clip,
        [style_path],
        tmp_path / "out.mp4",
        cfg,
        run_dir=run_dir,
        callback=infos.append,
        keep_frames=True,
    )
    assert (report.resumed, report.computed) == (5, 7)
    assert [i.frame for i in infos if i.resumed] == [0, 1, 2, 3, 4]
    assert all(p.stat().st_mtime_ns == stamps[p] for p in finished)  # not recomputed
    assert report.frames == 12 and (tmp_path / "out.mp4").exists()

    # other settings are another run: nothing is reused
    changed = cfg.replace(**{"video.temporal_weight": 10.0})
    report = stylize_video(pan_clip, [style_path], tmp_path / "out2.mp4", changed, run_dir=run_dir)
    assert (report.resumed, report.computed) == (0, 12)
