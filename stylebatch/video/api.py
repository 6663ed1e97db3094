"""`stylize_video`: split, stylise chunk by chunk with temporal consistency, reassemble, measure."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from .. import weights as weightslib
from ..api import ImageLike, as_tensor
from ..config import StyleConfig
from ..errors import ConfigError, InputError
from ..hashing import file_sha256 as file_hash
from ..metadata import versions
from . import chunks as chunklib
from . import cuts, decode, encode, metrics, report
from .assemble import Assembler
from .runner import FrameCallback, FrameInfo, FrameStylizer, needs_flow, run_chunk
from .state import VideoState, run_key

log = logging.getLogger("stylebatch.video")

# Settings that do not change the stylised frames (beyond float rounding) stay out of the key.
_RUNTIME_KEYS = ("device", "progress_every", "compile", "channels_last", "name", "description")


@dataclass
class VideoReport:
    """What `stylize_video` did: the output, its timing, audio, and its temporal consistency."""

    output: Path
    frames: int
    fps: float
    size: tuple[int, int]  # (w, h)
    shots: list[tuple[int, int]]
    chunks: list[tuple[int, int, int]]  # (first, start, end) per chunk
    seams: list[int]
    computed: int  # output frames stylised in this call (a chunk's extra warm-up frames not counted)
    resumed: int  # frames taken from an earlier, interrupted run
    seconds: float
    audio: str
    encoder: str
    warp_error: float  # E_warp of the output (Lai et al. 2018)
    warp_error_input: float  # the input video's own E_warp: the floor
    pair_errors: list[float] = field(default_factory=list)
    pair_frames: list[int] = field(default_factory=list)
    seam_summary: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    report_json: Path | None = None
    report_html: Path | None = None

    @property
    def frames_per_minute(self) -> float:
        return 60.0 * self.computed / self.seconds if self.seconds else 0.0


def _style_tensors(styles: Sequence[ImageLike], cfg: StyleConfig):
    if not styles:
        raise ConfigError("at least one style image is needed (--style)")
    side = max(16, round(cfg.size * cfg.style_scale))
    return [as_tensor(s, side, cfg.max_pixels) for s in styles]


def _key(src: Path, styles, cfg: StyleConfig, style_weights, frames: tuple, size) -> str:
    settings = {k: v for k, v in cfg.to_dict().items() if k not in _RUNTIME_KEYS}
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
    info = decode.open_video(src)
    first, stop = decode.frame_range(info, start, end)
    size = decode.working_size(info.width, info.height, cfg.size)
    estimate = max(0, (stop if stop is not None else info.header_frames) - first)
    if stop is not None and info.header_frames:
        estimate = max(0, min(stop, info.header_frames) - first)
    n_workers = _workers(workers, address)
    in_process = n_workers == 1 and not address
    plan = chunklib.plan(estimate, n_workers, cfg.video)

    def stream(chunk: chunklib.Chunk) -> decode.FrameStream:
        chunk_stop = stop if chunk.end is None else first + chunk.end
        if stop is not None and chunk_stop is not None:
            chunk_stop = min(chunk_stop, stop)
        return decode.FrameStream(info, size, first + chunk.first, chunk_stop)

    state = VideoState(run_dir, _key(src, styles, cfg, style_weights, (first, stop), size))
    counts = {"computed": 0, "resumed": 0}

    def on_frame(frame_info: FrameInfo) -> None:
        counts["resumed" if frame_info.resumed else "computed"] += 1
        if callback is not None:
            callback(frame_info)

    originals = decode.FrameStream(info, size, first, stop)
    encoder = encode.FrameEncoder(run_dir / "work", size, info.fps, cfg.video.crf, cfg.video.codec_preset)
    meter = metrics.QualityMeter(
        cfg.video.flow_preset, style_targets=style_ts, style_weights=style_weights, weights_spec=cfg.weights
    )
    assembler = Assembler(plan, state, originals, encoder, meter, cfg.video.cut_threshold)
    try:
        if in_process:  # Ray would only add start-up
            with _thread_cap(needs_flow(cfg)):
                stylizer = FrameStylizer(style_ts, cfg, style_weights)
                for chunk in plan:
                    for done in run_chunk(stream(chunk), chunk, stylizer, state, estimate, on_frame):
                        assembler.finished(chunk, done.frame, done.flows)
        else:
            from .workers import run_parallel

            run_parallel(
                stream, plan, style_ts, cfg, style_weights, state, estimate, n_workers, address,
                on_frame, assembler.finished,
            )  # fmt: skip
        assembler.drain()
        n = encoder.close()
    except BaseException:
        encoder.abort()
        state.close()
        raise
    if n == 0:
        state.close()
        where = f" after {start:g} s" if start else ""
        raise InputError(src, f"no decodable video frames{where}")
    fps, variable = originals.rate()
    try:
        encoded = encode.finalize(encoder, src, out, fps=fps, start=first / info.fps)
    finally:
        state.close()

    notes = []
    if variable:
        notes.append(f"variable frame rate input: written at a constant {fps:.3f} fps (its average)")
    if info.header_frames and first == 0 and stop is None and info.header_frames != n:
        notes.append(f"the container claims {info.header_frames} frames; decoding found {n}")
    if info.rotation:
        notes.append(f"rotation metadata {info.rotation} degrees applied")
    if originals.corrupt:
        bad = originals.corrupt  # frame numbers of the file, as a player counts them
        notes.append(f"{len(bad)} corrupt frame(s) replaced by the previous frame: {bad[:10]}")
    if encoded.audio.startswith("dropped"):
        notes.append(f"audio {encoded.audio}")
    for note in notes:
        log.warning("%s: %s", src, note)

    quality = meter.result()
    result, floor = quality.warp_error, quality.warp_error_input
    shots = cuts.from_cuts(assembler.cuts, n)
    seams = sorted(assembler.seams_shown)
    seam_summary = _seam_summary(result, quality.seam_pairs, seams)
    report_data = VideoReport(
        output=encoded.path, frames=n, fps=fps, size=size, shots=shots,
        chunks=[(c.first, c.start, c.end if c.end is not None else n) for c in plan if c.first < n],
        seams=seams, computed=counts["computed"], resumed=counts["resumed"],
        seconds=time.perf_counter() - began, audio=encoded.audio, encoder=encoded.encoder,
        warp_error=result.mean, warp_error_input=floor.mean,
        pair_errors=result.pairs, pair_frames=result.frames, seam_summary=seam_summary, notes=notes,
    )  # fmt: skip
    data = {
        **{
            k: v
            for k, v in asdict(report_data).items()
            if k not in ("pair_errors", "pair_frames", "report_json", "report_html")
        },
        "input": str(src),
        "temporal": cfg.video.temporal,
        "cuts": list(assembler.cuts),
        "warp_error": result.to_dict(),
        "warp_error_input": floor.to_dict(),
        "rotation": info.rotation,
        "variable_rate": variable,
        "random_weights": weightslib.resolve(cfg.weights).is_random,
        "settings": cfg.to_dict(),
        "versions": versions(),
    }
    report_data.report_json, report_data.report_html = report.write(run_dir, data, quality)
    if not keep_frames:
        shutil.rmtree(run_dir / "frames", ignore_errors=True)
        shutil.rmtree(run_dir / "work", ignore_errors=True)
        forget = VideoState(run_dir, state.key)
        forget.forget()
        forget.close()
    return report_data


def _seam_summary(result: metrics.WarpError, seam_pairs: list[int], seams: list[int]) -> dict:
    """Mean E_pair at pairs touching a seam's cross-fade band vs everywhere else."""
    band = set(seam_pairs)
    at = [e for t, e in zip(result.frames, result.pairs, strict=True) if t in band]
    rest = [e for t, e in zip(result.frames, result.pairs, strict=True) if t not in band]
    median = float(np.median(result.pairs)) if result.pairs else None
    return {
        "seams": seams,
        "seam_pairs": sorted(band),
        "seam_mean": float(np.mean(at)) if at else None,
        "seam_max": float(np.max(at)) if at else None,
        "other_mean": float(np.mean(rest)) if rest else None,
        "median": median,
        "ratio": float(np.mean(at) / np.mean(rest)) if at and rest and np.mean(rest) > 0 else None,
    }


@contextmanager
def _thread_cap(flow_thread: bool) -> Iterator[None]:
    """Torch threads for an in-process run, as the Ray workers get: this process's CPUs, less
    one for the background flow thread (OpenCV runs it on one thread); restored afterwards."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    before, cv_before = torch.get_num_threads(), cv2.getNumThreads()
    wanted = max(1, cpus - 1 if flow_thread else cpus)
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():  # an explicit choice wins if lower
        wanted = max(1, min(wanted, int(os.environ["OMP_NUM_THREADS"])))
    torch.set_num_threads(min(before, wanted))
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        cv2.setNumThreads(cv_before)
