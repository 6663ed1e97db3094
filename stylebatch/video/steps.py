"""The steps of one `stylize_video` call: select the input's frames, stylise the chunks (in this
process or on Ray actors) into the assembler, encoder and meter, mux the output, report."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import torch

from .. import weights as weightslib
from ..config import StyleConfig
from ..errors import InputError
from ..metadata import versions
from . import chunks as chunklib
from . import cuts, decode, encode, metrics, report
from .assemble import Assembler
from .runner import ChunkWork, FrameCallback, FrameInfo, needs_flow, run_in_process
from .state import VideoState

log = logging.getLogger("stylebatch.video")


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


@dataclass
class Source:
    """The selected frames of the input: first, stop (None: to the end), the working size and
    the expected frame count (the header's, when it has one)."""

    path: Path
    info: decode.VideoInfo
    first: int
    stop: int | None
    size: tuple[int, int]
    estimate: int

    @classmethod
    def select(cls, src: Path, side: int, start: float | None, end: float | None) -> Source:
        info = decode.open_video(src)
        first, stop = decode.frame_range(info, start, end)
        size = decode.working_size(info.width, info.height, side)
        estimate = max(0, (stop if stop is not None else info.header_frames) - first)
        if stop is not None and info.header_frames:
            estimate = max(0, min(stop, info.header_frames) - first)
        return cls(src, info, first, stop, size, estimate)

    def frames(self) -> decode.FrameStream:
        """The whole selected range, decoded as a stream."""
        return decode.FrameStream(self.info, self.size, self.first, self.stop)

    def chunk_frames(self, chunk: chunklib.Chunk) -> decode.FrameStream:
        """One chunk's frames (its warm-up frames included), decoded as a stream."""
        chunk_stop = self.stop if chunk.end is None else self.first + chunk.end
        if self.stop is not None and chunk_stop is not None:
            chunk_stop = min(chunk_stop, self.stop)
        return decode.FrameStream(self.info, self.size, self.first + chunk.first, chunk_stop)


class VideoRun:
    """One call's shared parts: the styles, the selected input, the chunk plan, the resume state,
    and where finished frames go (the assembler, which feeds the encoder and the quality meter)."""

    def __init__(
        self,
        cfg: StyleConfig,
        styles: list[torch.Tensor],
        style_weights: Sequence[float] | None,
        source: Source,
        plan: list[chunklib.Chunk],
        state: VideoState,
        callback: FrameCallback | None,
    ) -> None:
        self.cfg, self.source, self.plan, self.state, self.callback = cfg, source, plan, state, callback
        self.counts = {"computed": 0, "resumed": 0}
        self.originals = source.frames()
        video = cfg.video
        self.encoder = encode.FrameEncoder(
            state.run_dir / "work", source.size, source.info.fps, video.crf, video.codec_preset
        )
        self.meter = metrics.QualityMeter(
            video.flow_preset, style_targets=styles, style_weights=style_weights, weights_spec=cfg.weights
        )
        self.assembler = Assembler(plan, state, self.originals, self.encoder, self.meter, video.cut_threshold)
        self.work = ChunkWork(
            plan=plan,
            frames=source.chunk_frames,
            styles=styles,
            cfg=cfg,
            style_weights=style_weights,
            state=state,
            total=source.estimate,
            callback=self.on_frame,
            finished=self.assembler.finished,
        )

    def on_frame(self, frame_info: FrameInfo) -> None:
        """Count the frame (computed or resumed) and pass it on to the caller's callback."""
        self.counts["resumed" if frame_info.resumed else "computed"] += 1
        if self.callback is not None:
            self.callback(frame_info)

    def stylise(self, workers: int, address: str | None) -> int:
        """Every chunk, then the frames left in the assembler; returns the frames encoded.
        One worker and no cluster runs in this process (Ray would only add start-up)."""
        try:
            if workers == 1 and not address:
                with thread_cap(needs_flow(self.cfg)):
                    run_in_process(self.work)
            else:
                from .workers import run_parallel

                run_parallel(self.work, workers, address)
            self.assembler.drain()
            return self.encoder.close()
        except BaseException:
            self.encoder.abort()
            self.state.close()
            raise

    def finish(self, n: int, out: Path, start: float | None) -> tuple[encode.Encoded, float, bool]:
        """Mux the `n` encoded frames into `out` at the measured rate: (the file, fps, variable?).
        The resume state is closed either way; no frame at all is an InputError."""
        if n == 0:
            self.state.close()
            where = f" after {start:g} s" if start else ""
            raise InputError(self.source.path, f"no decodable video frames{where}")
        fps, variable = self.originals.rate()
        try:
            start_s = self.source.first / self.source.info.fps
            encoded = encode.finalize(self.encoder, self.source.path, out, fps=fps, start=start_s)
        finally:
            self.state.close()
        return encoded, fps, variable

    def notes(self, n: int, fps: float, variable: bool, audio: str) -> list[str]:
        """What the user should know about the input and the output; each is logged too."""
        info, notes = self.source.info, []
        if variable:
            notes.append(f"variable frame rate input: written at a constant {fps:.3f} fps (its average)")
        if (
            info.header_frames
            and self.source.first == 0
            and self.source.stop is None
            and info.header_frames != n
        ):
            notes.append(f"the container claims {info.header_frames} frames; decoding found {n}")
        if info.rotation:
            notes.append(f"rotation metadata {info.rotation} degrees applied")
        if self.originals.corrupt:
            bad = self.originals.corrupt  # frame numbers of the file, as a player counts them
            notes.append(f"{len(bad)} corrupt frame(s) replaced by the previous frame: {bad[:10]}")
        if audio.startswith("dropped"):
            notes.append(f"audio {audio}")
        for note in notes:
            log.warning("%s: %s", self.source.path, note)
        return notes

    def result(
        self, encoded: encode.Encoded, n: int, fps: float, notes: list[str], began: float
    ) -> tuple[VideoReport, metrics.VideoQuality]:
        """What was written and how steady it is: the report and the quality measures."""
        quality = self.meter.result()
        result, floor = quality.warp_error, quality.warp_error_input
        seams = sorted(self.assembler.seams_shown)
        made = VideoReport(
            output=encoded.path,
            frames=n,
            fps=fps,
            size=self.source.size,
            shots=cuts.from_cuts(self.assembler.cuts, n),
            chunks=[(c.first, c.start, c.end if c.end is not None else n) for c in self.plan if c.first < n],
            seams=seams,
            computed=self.counts["computed"],
            resumed=self.counts["resumed"],
            seconds=time.perf_counter() - began,
            audio=encoded.audio,
            encoder=encoded.encoder,
            warp_error=result.mean,
            warp_error_input=floor.mean,
            pair_errors=result.pairs,
            pair_frames=result.frames,
            seam_summary=metrics.seam_summary(result, quality.seam_pairs, seams),
            notes=notes,
        )
        return made, quality

    def write_report(self, made: VideoReport, quality: metrics.VideoQuality, variable: bool) -> None:
        """video_report.json and .html into the run directory: the report's fields (the per-pair
        lists go in as the warping errors' own), the input, the cuts, the settings and versions."""
        omit = ("pair_errors", "pair_frames", "report_json", "report_html")
        data = {
            **{k: v for k, v in asdict(made).items() if k not in omit},
            "input": str(self.source.path),
            "temporal": self.cfg.video.temporal,
            "cuts": list(self.assembler.cuts),
            "warp_error": quality.warp_error.to_dict(),
            "warp_error_input": quality.warp_error_input.to_dict(),
            "rotation": self.source.info.rotation,
            "variable_rate": variable,
            "random_weights": weightslib.resolve(self.cfg.weights).is_random,
            "settings": self.cfg.to_dict(),
            "versions": versions(),
        }
        made.report_json, made.report_html = report.write(self.state.run_dir, data, quality)


@contextmanager
def thread_cap(flow_thread: bool) -> Iterator[None]:
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
