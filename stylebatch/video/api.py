"""`stylize_video`: split, stylise chunk by chunk with temporal consistency, reassemble, measure
(its steps are in `steps`)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from .. import weights as weightslib
from ..api import ImageLike, as_tensor
from ..batch.jobs import job_params
from ..config import StyleConfig
from ..engine.sizes import style_side
from ..errors import ConfigError
from ..hashing import file_sha256 as file_hash
from . import chunks as chunklib
from .runner import FrameCallback
from .state import VideoState, run_key
from .steps import Source, VideoReport, VideoRun


def _style_tensors(styles: Sequence[ImageLike], cfg: StyleConfig):
    if not styles:
        raise ConfigError("at least one style image is needed (--style)")
    return [as_tensor(s, style_side(cfg.size, cfg), cfg.max_pixels) for s in styles]


def _key(src: Path, styles, cfg: StyleConfig, style_weights, frames: tuple, size) -> str:
    settings = job_params(cfg)  # runtime-only settings stay out, as for image jobs
    style_ids = [file_hash(s) if isinstance(s, (str, os.PathLike)) else repr(s) for s in styles]
    return run_key(
        {
            "input": file_hash(src),
            "styles": style_ids,
            "style_weights": list(style_weights or []),
            "settings": settings,
            "weights": weightslib.resolve(cfg.weights).identity,
            "frames": list(frames),
            "size": list(size),
        }
    )


def _workers(workers: int | None, address: str | None) -> int:
    if workers is not None:
        if workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        return workers
    if not address and not os.environ.get("RAY_ADDRESS"):
        return 1
    from ..batch import cluster

    ray = cluster.connect(address)
    res = ray.cluster_resources()
    return max(1, int(res.get("GPU", 0)) or int(res.get("CPU", 1)) // 4)


def stylize_video(
    src: str | os.PathLike,
    styles: Sequence[ImageLike],
    out: str | os.PathLike,
    cfg: StyleConfig,
    *,
    run_dir: str | os.PathLike,
    style_weights: Sequence[float] | None = None,
    workers: int | None = None,
    address: str | None = None,
    start: float | None = None,
    end: float | None = None,
    keep_frames: bool = False,
    callback: FrameCallback | None = None,
) -> VideoReport:
    """Stylise a video frame by frame with temporal consistency and write `out` with its audio.

    `workers`=None/1 without `address` runs in-process; otherwise chunks run on Ray actors.
    Frames are decoded, stylised, encoded and measured as a stream: memory holds a window of
    frames, not the clip. Finished frames are kept in `run_dir` while the run is incomplete,
    so a rerun resumes (exactly where it stopped).
    """
    began = time.perf_counter()
    src, out, run_dir = Path(src), Path(out), Path(run_dir)
    if isinstance(styles, (str, os.PathLike)):
        styles = [styles]
    style_ts = _style_tensors(styles, cfg)
    source = Source.select(src, cfg.size, start, end)
    n_workers = _workers(workers, address)
    plan = chunklib.plan(source.estimate, n_workers, cfg.video)
    key = _key(src, styles, cfg, style_weights, (source.first, source.stop), source.size)
    run = VideoRun(cfg, style_ts, style_weights, source, plan, VideoState(run_dir, key), callback)
    n = run.stylise(n_workers, address)
    encoded, fps, variable = run.finish(n, out, start)
    notes = run.notes(n, fps, variable, encoded.audio)
    made, quality = run.result(encoded, n, fps, notes, began)
    run.write_report(made, quality, variable)
    if not keep_frames:
        _drop_frames(run_dir, key)
    return made


def _drop_frames(run_dir: Path, key: str) -> None:
    """A finished run needs no resume state: drop the frames, the work files and the key."""
    shutil.rmtree(run_dir / "frames", ignore_errors=True)
    shutil.rmtree(run_dir / "work", ignore_errors=True)
    forget = VideoState(run_dir, key)
    forget.forget()
    forget.close()
