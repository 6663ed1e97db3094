"""`stylebatch video`: stylise a video with temporal consistency."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import storage
from .. import weights as weights_
from ..config import CHOICES, StyleConfig
from ..errors import ConfigError, InputError, StorageError
from .common import (
    QuietBarOpt,
    SharedOptions,
    StyleWeightsOpt,
    console,
    interactive,
    progress_bar,
    warn_if_random,
    with_shared_options,
)
from .image import parse_weights

FrameStepsOpt = Annotated[
    int | None, typer.Option("--steps", help="Steps for each later frame (video.frame_steps).")
]
TemporalOpt = Annotated[
    str | None,
    typer.Option("--temporal", help=f"{' | '.join(CHOICES['video.temporal'])} (default: the pipeline's)."),
]


@with_shared_options(steps=FrameStepsOpt)
def video(
    source: Annotated[
        str,
        typer.Argument(
            help="The video to stylise (any format OpenCV/FFmpeg reads; a path or a storage URL)."
        ),
    ],
    style: Annotated[list[str], typer.Option("--style", "-s", help="A style image (repeat to blend).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output video (.mp4; a path or a storage URL).")],
    style_weights: StyleWeightsOpt = None,
    temporal: TemporalOpt = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", help="Parallel Ray workers (1: in-process).")
    ] = None,
    address: Annotated[str | None, typer.Option("--address", help="Join this Ray cluster.")] = None,
    start: Annotated[float | None, typer.Option("--start", help="Start time in seconds.")] = None,
    end: Annotated[float | None, typer.Option("--end", help="End time in seconds.")] = None,
    keep_frames: Annotated[
        bool, typer.Option("--keep-frames", help="Keep the stylised PNG frames in the run directory.")
    ] = False,
    run_dir: Annotated[
        Path | None, typer.Option("--run-dir", help="Resume state and report (default: OUT.run/).")
    ] = None,
    shared: SharedOptions = SharedOptions(pipeline="video"),
    quiet: QuietBarOpt = False,
) -> None:
    """Stylise a video frame by frame with temporal consistency; the audio is kept.

    Example: stylebatch video clip.mp4 --style starry_night.jpg --out clip_styled.mp4 --workers 2

    Storage URLs are downloaded into the run directory first; a storage --out is uploaded at the end.
    """
    from ..video import stylize_video

    cfg = _video_config(shared, temporal)
    blend = parse_weights(style_weights, len(style))
    target, run_dir, local_out = _places(out, run_dir)
    warn_if_random(cfg)
    weights_.ensure(cfg.weights)  # on the driver, before any decoding or worker: one message, exit 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    src, *styles = _local_inputs([source, *style], run_dir / "inputs")
    with _frame_progress(src.name, quiet) as callback:
        report = stylize_video(
            src,
            styles,
            local_out,
            cfg,
            run_dir=run_dir,
            style_weights=blend,
            workers=workers,
            address=address,
            start=start,
            end=end,
            keep_frames=keep_frames,
            callback=callback,
        )
    _print_video_report(report)
    if local_out != target:
        try:
            storage.upload(local_out, str(target), then=(Path(f"{local_out}.json"),))
        except OSError as exc:
            raise StorageError(f"{exc}; the video is kept at {local_out}") from None
        console.print(f"uploaded to {target}", highlight=False)


def _places(out: str, run_dir: Path | None) -> tuple[Any, Path, Path]:
    """(--out as a Path or storage Url, the run directory, where the video is written locally)."""
    target = storage.location(out)
    if target.suffix.lower() not in (".mp4", ".m4v", ".mov", ".mkv"):
        raise ConfigError(f"--out {out}: use a .mp4 (or .mov / .mkv) file name")
    if isinstance(target, storage.Url):
        run_dir = run_dir or storage.state_dir(out)
        return target, run_dir, run_dir / "output" / target.name
    return target, run_dir or target.with_name(target.name + ".run"), target


def _local_inputs(names: list[str], folder: Path) -> list[Path]:
    """Each input as a local file: storage objects are downloaded into `folder` (once)."""
    out = []
    for name in names:
        try:
            out.append(storage.fetch(storage.location(name), folder))
        except InputError as exc:
            raise ConfigError(str(exc)) from None
    return out


def _video_config(shared: SharedOptions, temporal: str | None) -> StyleConfig:
    """The shared options, with --temporal and --steps (each later frame's) as video settings."""
    extra = list(shared.set_ or [])
    if temporal is not None:
        modes = CHOICES["video.temporal"]
        if temporal not in modes:
            raise ConfigError(f"--temporal {temporal!r} is not one of {', '.join(modes)}")
        extra.append(f"video.temporal={temporal}")
    if shared.steps is not None:
        extra.append(f"video.frame_steps={shared.steps}")
    return dataclasses.replace(shared, set_=extra, steps=None).config()


@contextmanager
def _frame_progress(label: str, quiet: bool) -> Iterator[Callable[[Any], None]]:
    """A progress bar over a video's frames; yields the frame callback."""
    with progress_bar(disable=quiet or not interactive()) as progress:
        task = progress.add_task(f"[bold]{label}", total=None, detail="")

        def callback(info: Any) -> None:
            detail = "resumed" if info.resumed else f"chunk {info.chunk} {info.seconds:.1f} s/frame"
            progress.update(task, advance=1, total=info.total, detail=detail)
            if not quiet and not interactive() and not info.resumed:
                console.print(f"frame {info.frame + 1}/{info.total} ({detail})", highlight=False)

        yield callback


def _print_video_report(report: Any) -> None:
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if report.audio.startswith("dropped"):
        console.print(f"[yellow]warning:[/] the audio was {report.audio}", highlight=False)
    console.print(
        f"wrote {report.output} ({report.frames} frames at {report.fps:.3f} fps, {report.size[0]}x{report.size[1]}, "
        f"audio {report.audio}; {report.computed} frames computed, {report.resumed} resumed, "
        f"{report.seconds:.1f} s, {report.frames_per_minute:.1f} frames/min)",
        highlight=False,
    )
    seam = report.seam_summary
    seam_text = (
        f"; worst seam pair {seam['seam_max'] / seam['median']:.2f}x the median pair"
        if seam.get("seam_max") and seam.get("median")
        else ""
    )
    console.print(
        f"warping error {report.warp_error:.5f} (input's own {report.warp_error_input:.5f}){seam_text}; "
        f"report {report.report_html}",
        highlight=False,
    )
