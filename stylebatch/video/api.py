"""`stylize_video`: split, stylise chunk by chunk with temporal consistency, reassemble, measure."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .. import weights as weightslib
from ..api import ImageLike, as_tensor
from ..config import StyleConfig
from ..errors import ConfigError
from ..hashing import file_sha256 as file_hash
from ..metadata import versions
from . import chunks as chunklib
from . import cuts, decode, encode, metrics, report
from .runner import FrameCallback, FrameInfo, FrameStylizer, run_chunk
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


def _key(src: Path, styles, cfg: StyleConfig, style_weights, frames: range, size) -> str:
    settings = {k: v for k, v in cfg.to_dict().items() if k not in _RUNTIME_KEYS}
    style_ids = [file_hash(s) if isinstance(s, (str, os.PathLike)) else repr(s) for s in styles]
    return run_key(
        {
            "input": file_hash(src),
            "styles": style_ids,
            "style_weights": list(style_weights or []),
            "settings": settings,
            "weights": weightslib.resolve(cfg.weights).identity,
            "frames": [frames.start, frames.stop],
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
    from .. import cluster

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
    Finished frames are kept in `run_dir` while the run is incomplete, so a rerun resumes.
    """
    began = time.perf_counter()
    src, out, run_dir = Path(src), Path(out), Path(run_dir)
    if isinstance(styles, (str, os.PathLike)):
        styles = [styles]
    notes: list[str] = []
    style_ts = _style_tensors(styles, cfg)
    info = decode.probe(src)
    if info.variable_rate:
        notes.append(f"variable frame rate input: written at a constant {info.fps:.3f} fps (its average)")
    if info.header_frames and info.header_frames != info.frames:
        notes.append(f"the container claims {info.header_frames} frames; decoding found {info.frames}")
    if info.rotation:
        notes.append(f"rotation metadata {info.rotation} degrees applied")
    if info.corrupt:
        notes.append(
            f"{len(info.corrupt)} corrupt frame(s) replaced by the previous frame: {info.corrupt[:10]}"
        )
    selected = decode.frame_range(info, start, end)
    size = decode.working_size(info.width, info.height, cfg.size)
    frames = decode.read_frames(info, size, selected)
    n = len(frames)
    shots = cuts.shots(frames, cfg.video.cut_threshold)
    n_workers = _workers(workers, address)
    plan = chunklib.plan(shots, n_workers, cfg.video)
    seams = chunklib.seams(plan)
    for note in notes:
        log.warning("%s: %s", src, note)

    state = VideoState(run_dir, _key(src, styles, cfg, style_weights, selected, size))
    counts = {"computed": 0, "resumed": 0}

    def on_frame(frame_info: FrameInfo) -> None:
        counts["resumed" if frame_info.resumed else "computed"] += 1
        if callback is not None:
            callback(frame_info)

    try:
        if (n_workers == 1 or len(plan) == 1) and not address:  # one chunk: Ray would only add start-up
            stylizer = FrameStylizer(style_ts, cfg, style_weights)
            for chunk in plan:
                for _ in run_chunk(frames, chunk, stylizer, state, n, on_frame):
                    pass
        else:
            from .workers import run_parallel

            run_parallel(frames, plan, style_ts, cfg, style_weights, state, n, n_workers, address, on_frame)

        work = run_dir / "work"
        work.mkdir(parents=True, exist_ok=True)
        opencv_file = work / "opencv.mp4"
        encode.write_opencv(_assembled(plan, n, state), opencv_file, info.fps, size)
        encoded = encode.finalize(
            opencv_file, src, out, fps=info.fps, frames=n, crf=cfg.video.crf,
            preset=cfg.video.codec_preset, start=selected.start / info.fps,
        )  # fmt: skip
        if encoded.audio.startswith("dropped"):
            notes.append(f"audio {encoded.audio}")

        written = encode.read_video(encoded.path, size)
        if len(written) != n:
            notes.append(f"the encoded output has {len(written)} frames, expected {n}")
        m = min(len(written), n)
        clipped = [(s, min(e, m)) for s, e in shots if s < m]
        result, floor = metrics.warp_errors(
            frames[:m], [written[:m], frames[:m]], clipped, cfg.video.flow_preset
        )
        seam_summary = metrics.seam_summary(result, seams, cfg.video.overlap)
    finally:
        state.close()

    report_data = VideoReport(
        output=encoded.path, frames=n, fps=info.fps, size=size, shots=shots,
        chunks=[(c.first, c.start, c.end) for c in plan], seams=seams,
        computed=counts["computed"], resumed=counts["resumed"],
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
        "cuts": [s for s, _ in shots[1:]],
        "warp_error": result.to_dict(),
        "warp_error_input": floor.to_dict(),
        "rotation": info.rotation,
        "variable_rate": info.variable_rate,
        "random_weights": weightslib.resolve(cfg.weights).is_random,
        "settings": cfg.to_dict(),
        "versions": versions(),
    }
    report_data.report_json, report_data.report_html = report.write(run_dir, data)
    if not keep_frames:
        shutil.rmtree(run_dir / "frames", ignore_errors=True)
        shutil.rmtree(run_dir / "work", ignore_errors=True)
        forget = VideoState(run_dir, state.key)
        forget.forget()
        forget.close()
    return report_data


def _assembled(plan: list[chunklib.Chunk], n: int, state: VideoState) -> Iterator[np.ndarray]:
    """The final frames in order; frames two chunks share are cross-faded (a linear ramp)."""
    for t in range(n):
        sources = chunklib.sources(plan, t)
        if len(sources) == 1:
            yield _read(state.path(sources[0][0], t))
            continue
        mix = sum(w * _read(state.path(c, t)).astype(np.float32) for c, w in sources)
        yield np.clip(np.rint(mix), 0, 255).astype(np.uint8)


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))
