"""`stylebatch image`: one content image, one or more styles, one output."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import api, metadata
from ..config import check_style_weights
from ..errors import ConfigError
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
    with step_progress(content.name, quiet) as callback:
        result = api.stylize(content, styles, cfg, style_weights=blend, callback=callback)
    path = result.save(output)
    losses = result.losses
    console.print(
        f"wrote {path} ({result.result.steps} steps, {result.result.seconds:.1f} s on {device}, "
        f"content {losses['content']:.4g}, style {losses['style']:.4g})",
        highlight=False,
    )
