"""`stylebatch image`: one content image, one or more styles, one output."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .. import metadata, weights
from ..batch.jobs import job_id
from ..batch.manifest import Job
from ..config import check_style_weights
from ..errors import ConfigError, StylebatchError

if TYPE_CHECKING:
    from ..checkpoints import CheckpointFile

from .common import (
    QuietBarOpt,
    SharedOptions,
    StyleWeightsOpt,
    console,
    step_progress,
    warn_if_random,
    with_shared_options,
)


def parse_weights(text: str | None, n_styles: int) -> list[float] | None:
    if not text:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ConfigError(f"--style-weights {text!r}: expected numbers separated by commas") from None
    if len(values) != n_styles:
        raise ConfigError(f"--style-weights has {len(values)} values for {n_styles} style image(s)")
    check_style_weights(values, "--style-weights")  # finite, non-negative, not all zero
    return values


def _checkpoint(content: Path, styles: list[Path], output: Path, blend, cfg) -> CheckpointFile | None:
    """Where this job keeps its finished scales, named by its identity as a batch run would
    compute it (inputs, settings, weights); None when an input cannot be read (the engine's
    loader then says why)."""
    from ..checkpoints import CheckpointFile  # late: torch

    job = Job(
        content.resolve(),
        tuple(s.resolve() for s in styles),
        str(output.resolve()),
        tuple(blend) if blend else None,
    )
    try:
        return CheckpointFile.for_job(job_id(job, cfg, weights.resolve(cfg.weights).identity)[0])
    except (OSError, StylebatchError):
        return None


@with_shared_options
def image(
    content: Annotated[Path, typer.Argument(help="The photo to stylise.")],
    styles: Annotated[list[Path], typer.Argument(help="One or more style images (blended).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file: .png, .jpg or .webp.")],
    style_weights: StyleWeightsOpt = None,
    shared: SharedOptions = SharedOptions(),
    quiet: QuietBarOpt = False,
) -> None:
    """Stylise one image.

    Example: stylebatch image photo.jpg starry_night.jpg -o out.png --size 512
    """
    cfg = shared.config()
    blend = parse_weights(style_weights, len(styles))
    from ..images import format_for

    format_for(output)  # a bad extension is a usage error before any work
    warn_if_random(cfg)
    device = metadata.describe_device(cfg.device)
    note = metadata.cpu_fallback_note(cfg.device, device)
    if note:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    from .. import api  # late: torch (the command line starts without it)

    checkpoint = _checkpoint(content, styles, output, blend, cfg)
    with step_progress(content.name, quiet) as callback:
        result = api.stylize(
            content, styles, cfg, style_weights=blend, callback=callback, checkpoint=checkpoint
        )
    path = result.save(output)
    if result.result.resumed_in is not None:
        scale, step = result.result.resumed_in
        console.print(
            f"resumed in scale {scale + 1} of {len(result.result.sizes)} after its step {step}"
            " (kept by an interrupted run of this command)",
            highlight=False,
        )
    elif result.result.resumed_after is not None:
        console.print(
            f"resumed after scale {result.result.resumed_after + 1} of {len(result.result.sizes)}"
            " (kept by an interrupted run of this command)",
            highlight=False,
        )
    losses = result.losses
    console.print(
        f"wrote {path} ({result.result.steps} steps, {result.result.seconds:.1f} s on {device}, "
        f"content {losses['content']:.4g}, style {losses['style']:.4g})",
        highlight=False,
    )
