"""`stylebatch metrics warp-error|video-quality`: quality measures of finished videos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import weights as weights_
from ..config import StyleConfig, VideoConfig
from .common import StyleWeightsOpt, WeightsOpt, console
from .image import parse_weights

app = typer.Typer(help="Quality measures of finished outputs.", no_args_is_help=True)


OriginalArg = Annotated[Path, typer.Argument(help="The input video.")]
StylisedArg = Annotated[Path, typer.Argument(help="The stylised video (same frames).")]
CutOpt = Annotated[
    float | None,
    typer.Option(
        "--cut-threshold",
        help="Scene-cut threshold (default: the video pipeline's); pairs across cuts are skipped.",
    ),
]


def _cut_threshold(value: float | None) -> float:
    return VideoConfig().cut_threshold if value is None else value


@app.command("warp-error")
def warp_error(
    original: OriginalArg,
    stylised: StylisedArg,
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


@app.command("video-quality")
def video_quality(
    original: OriginalArg,
    stylised: StylisedArg,
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
    style_weights: StyleWeightsOpt = None,
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
    from ..video import metrics

    blend = parse_weights(style_weights, len(style or []))
    styles = _style_targets(style, stylised, weights)
    quality, notes = metrics.measure_videos(
        original,
        stylised,
        reference=reference,
        styles=styles,
        style_weights=blend,
        weights_spec=weights or "default",
        cut_threshold=_cut_threshold(cut_threshold),
        filmstrip=report_dir is not None,
    )
    if report_dir is not None:
        page = _write_quality_report(report_dir, original, stylised, reference, quality, notes)
        notes.append(f"report {page}")
    if as_json:
        typer.echo(json.dumps({**quality.to_dict(), "notes": notes}, indent=2))
        return
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    _print_quality(quality)


def _style_targets(style: list[Path] | None, stylised: Path, weights: str | None) -> list | None:
    """The style images at the stylised video's size, for the scorer; a bad --weights fails here."""
    if not style:
        return None
    from ..api import as_tensor
    from ..video import decode

    info = decode.open_video(stylised)
    side = max(info.width, info.height)
    styles = [as_tensor(path, side, StyleConfig().max_pixels) for path in style]
    weights_.ensure(weights or "default")  # a bad --weights fails once, before any decoding
    return styles


def _write_quality_report(
    report_dir: Path, original: Path, stylised: Path, reference: Path | None, quality: Any, notes: list[str]
) -> Path:
    """video_report.html (curves, filmstrip) in `report_dir`; returns its path."""
    from ..video import report

    data = {
        "output": str(stylised),
        "input": str(original),
        "reference": str(reference or ""),
        "frames": quality.frames,
        "seams": [],
        "cuts": quality.cuts,
        "warp_error": quality.warp_error.to_dict(),
        "warp_error_input": quality.warp_error_input.to_dict(),
        "notes": notes,
    }
    return report.write(report_dir, data, quality)[1]


def _print_quality(quality: Any) -> None:
    """One line per measure with its bar and whether it meets it, then the verdict."""
    from ..video import metrics

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
