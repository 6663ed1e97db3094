"""`stylebatch video` and `stylebatch metrics warp-error`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .. import weights as weights_
from ..errors import ConfigError
from .common import (
    DeviceOpt,
    PipelineOpt,
    SeedOpt,
    SetOpt,
    SizeOpt,
    WeightsOpt,
    build_config,
    console,
    interactive,
    warn_if_random,
)
from .image import parse_weights

TEMPORAL = ("independent", "previous", "warped")


def video(
    source: Annotated[Path, typer.Argument(help="The video to stylise (any format OpenCV/FFmpeg reads).")],
    style: Annotated[list[Path], typer.Option("--style", "-s", help="A style image (repeat to blend).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output video (.mp4).")],
    style_weights: Annotated[
        str | None, typer.Option("--style-weights", help="Blend weights, e.g. 0.7,0.3.")
    ] = None,
    temporal: Annotated[
        str | None,
        typer.Option("--temporal", help="independent | previous | warped (default: the pipeline's)."),
    ] = None,
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
    pipeline: PipelineOpt = "video",
    set_: SetOpt = None,
    size: SizeOpt = None,
    steps: Annotated[
        int | None, typer.Option("--steps", help="Steps for each later frame (video.frame_steps).")
    ] = None,
    seed: SeedOpt = None,
    weights: WeightsOpt = None,
    device: DeviceOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Stylise a video frame by frame with temporal consistency; the audio is kept.

    Example: stylebatch video clip.mp4 --style starry_night.jpg --out clip_styled.mp4 --workers 2
    """
    from ..video import stylize_video

    extra = list(set_ or [])
    if temporal is not None:
        if temporal not in TEMPORAL:
            raise ConfigError(f"--temporal {temporal!r} is not one of {', '.join(TEMPORAL)}")
        extra.append(f"video.temporal={temporal}")
    if steps is not None:
        extra.append(f"video.frame_steps={steps}")
    cfg = build_config(pipeline, extra, size, None, seed, weights, device)
    blend = parse_weights(style_weights, len(style))
    if out.suffix.lower() not in (".mp4", ".m4v", ".mov", ".mkv"):
        raise ConfigError(f"--out {out}: use a .mp4 (or .mov / .mkv) file name")
    warn_if_random(cfg)
    weights_.ensure(cfg.weights)  # on the driver, before any decoding or worker: one message, exit 2
    run_dir = run_dir or out.with_name(out.name + ".run")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn()]
    columns += [TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, disable=quiet or not interactive()) as progress:
        task = progress.add_task(source.name, total=None, detail="")

        def callback(info) -> None:
            detail = "resumed" if info.resumed else f"chunk {info.chunk} {info.seconds:.1f} s/frame"
            progress.update(task, advance=1, total=info.total, detail=detail)
            if not quiet and not interactive() and not info.resumed:
                console.print(f"frame {info.frame + 1}/{info.total} ({detail})", highlight=False)

        report = stylize_video(
            source, style, out, cfg, run_dir=run_dir, style_weights=blend, workers=workers,
            address=address, start=start, end=end, keep_frames=keep_frames, callback=callback,
        )  # fmt: skip
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


metrics_app = typer.Typer(help="Quality measures of finished outputs.", no_args_is_help=True)


CutOpt = Annotated[
    float | None,
    typer.Option(
        "--cut-threshold",
        help="Scene-cut threshold (default: the video pipeline's); pairs across cuts are skipped.",
    ),
]


def _cut_threshold(value: float | None) -> float:
    from ..config import VideoConfig

    return VideoConfig().cut_threshold if value is None else value


@metrics_app.command("warp-error")
def warp_error(
    original: Annotated[Path, typer.Argument(help="The input video.")],
    stylised: Annotated[Path, typer.Argument(help="The stylised video (same frames).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (mean, per-pair profile).")] = False,
    cut_threshold: CutOpt = None,
) -> None:
    """Warping error (Lai et al. 2018) of a stylised video, with the original's own as the floor.

    Streams both videos frame by frame. Example: stylebatch metrics warp-error clip.mp4 clip_styled.mp4 --json
    """
    from ..video import metrics

    quality, notes = metrics.measure_videos(
        original, stylised, cut_threshold=_cut_threshold(cut_threshold), filmstrip=False
    )
    result, floor = quality.warp_error, quality.warp_error_input
    if as_json:
        data = {"warp_error": result.to_dict(), "warp_error_input": floor.to_dict(), "notes": notes}
        typer.echo(json.dumps(data, indent=2))
        return
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    worst = (
        result.frames[max(range(len(result.pairs)), key=result.pairs.__getitem__)] if result.pairs else "-"
    )
    console.print(
        f"warping error {result.mean:.5f} over {len(result.pairs)} pairs "
        f"(the original's own: {floor.mean:.5f}); worst pair at frame {worst}",
        highlight=False,
    )


@metrics_app.command("video-quality")
def video_quality(
    original: Annotated[Path, typer.Argument(help="The input video.")],
    stylised: Annotated[Path, typer.Argument(help="The stylised video (same frames).")],
    reference: Annotated[
        Path | None,
        typer.Option("--reference", help="The independent stylisation (--temporal independent): the basis."),
    ] = None,
    style: Annotated[
        list[Path] | None,
        typer.Option(
            "--style", "-s", help="The style image(s), for the scorer's loss per frame (repeat to blend)."
        ),
    ] = None,
    style_weights: Annotated[
        str | None, typer.Option("--style-weights", help="Blend weights, e.g. 0.7,0.3.")
    ] = None,
    weights: WeightsOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (every per-pair and per-frame value).")
    ] = False,
    report_dir: Annotated[
        Path | None,
        typer.Option("--report", help="Write video_report.html (curves, filmstrip) into this folder."),
    ] = None,
    cut_threshold: CutOpt = None,
) -> None:
    """Two-sided quality: warping error AND detail retention AND the scorer's loss, per frame.

    Detail is relative to --reference (else to each shot's first frame); the scorer's loss
    needs --style. A temporal mode is good only when all three meet their bars.
    Example: stylebatch metrics video-quality clip.mp4 warped.mp4 --reference independent.mp4 -s starry.jpg
    """
    from .. import weights as weightslib
    from ..api import as_tensor
    from ..config import StyleConfig
    from ..video import decode, metrics, report

    blend = parse_weights(style_weights, len(style or []))
    styles = None
    if style:
        info = decode.open_video(stylised)
        side = max(info.width, info.height)
        styles = [as_tensor(path, side, StyleConfig().max_pixels) for path in style]
    spec = weights or "default"
    if styles:
        weightslib.ensure(spec)  # a bad --weights fails once, before any decoding
    quality, notes = metrics.measure_videos(
        original, stylised, reference=reference, styles=styles, style_weights=blend, weights_spec=spec,
        cut_threshold=_cut_threshold(cut_threshold), filmstrip=report_dir is not None,
    )  # fmt: skip
    if report_dir is not None:
        data = {
            "output": str(stylised), "input": str(original), "reference": str(reference or ""),
            "frames": quality.frames, "seams": [], "cuts": quality.cuts,
            "warp_error": quality.warp_error.to_dict(), "warp_error_input": quality.warp_error_input.to_dict(),
            "notes": notes,
        }  # fmt: skip
        _, html_path = report.write(report_dir, data, quality)
        notes.append(f"report {html_path}")
    if as_json:
        typer.echo(json.dumps({**quality.to_dict(), "notes": notes}, indent=2))
        return
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    s, verdict = quality.summary(), quality.verdict()

    def tick(ok: bool | None) -> str:
        return {True: "[green]ok[/]", False: "[red]FAILS[/]", None: "[dim]not measured[/]"}[ok]

    ref = (
        f"; independent's {s['warp_error_reference']:.5f}, ratio {s['warp_ratio']:.3f}"
        if s["warp_ratio"]
        else ""
    )
    console.print(
        f"warping error {s['warp_error']:.5f} over {len(quality.warp_error.pairs)} pairs "
        f"(input's own {s['warp_error_input']:.5f}{ref}; bar <= {metrics.WARP_MAX}) {tick(verdict['warp'])}",
        highlight=False,
    )
    console.print(
        f"detail retention (vs {quality.detail_basis}) min {s['detail_min']:.3f}, mean {s['detail_mean']:.3f} "
        f"(bar >= {metrics.DETAIL_MIN}) {tick(verdict['detail'])}",
        highlight=False,
    )
    if quality.fidelity:
        console.print(
            f"scorer loss mean {s['fidelity_mean']:.4g}, worst frame {s['fidelity_ratio_max']:.3f}x the basis "
            f"(bar <= {metrics.FIDELITY_MAX}) {tick(verdict['fidelity'])}",
            highlight=False,
        )
    else:
        console.print("scorer loss: not measured (give --style)", highlight=False)
    good = {True: "[green]good[/]", False: "[red]not good[/]", None: "[yellow]incomplete[/]"}[verdict["good"]]
    console.print(f"verdict: {good}", highlight=False)
