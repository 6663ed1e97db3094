"""Options shared by every command that stylises (image, run, folder, video, bench)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .. import pipelines, weights
from ..config import StyleConfig, parse_set
from ..engine import StepInfo, progress_names

console = Console(stderr=True)

PipelineOpt = Annotated[
    str,
    typer.Option(
        "--pipeline", "-p", help="Preset name (paper, default, fast, hires, video) or a .toml file."
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a pipeline setting, e.g. --set style_weight=20 (repeatable)."),
]
SizeOpt = Annotated[int | None, typer.Option("--size", help="Longest side of the output in pixels.")]
StepsOpt = Annotated[int | None, typer.Option("--steps", help="Optimisation steps at the final scale.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed (same seed, same result).")]
WeightsOpt = Annotated[
    str | None,
    typer.Option(
        "--weights",
        help="VGG-19 weights: 'default' (torchvision ImageNet, downloaded once), a file, or "
        f"'random' (smoke tests). Env: {weights.ENV_WEIGHTS}.",
    ),
]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]


def build_config(
    pipeline: str = "default",
    set_: list[str] | None = None,
    size: int | None = None,
    steps: int | None = None,
    seed: int | None = None,
    weights_spec: str | None = None,
    device: str | None = None,
) -> StyleConfig:
    """Preset, then --set overrides, then the dedicated options (which win)."""
    overrides = parse_set(set_)
    for key, value in (
        ("size", size),
        ("steps", steps),
        ("seed", seed),
        ("weights", weights_spec),
        ("device", device),
    ):
        if value is not None:
            overrides[key] = value
    cfg = pipelines.load(pipeline, overrides)
    weights.resolve(cfg.weights)  # a missing --weights file is a usage error before any work
    return cfg


def warn_if_random(cfg: StyleConfig) -> None:
    if weights.resolve(cfg.weights).is_random:
        console.print(f"[yellow]warning:[/] {weights.RANDOM_WARNING}")


def interactive() -> bool:
    return console.is_terminal and sys.stderr.isatty()


@contextmanager
def step_progress(label: str, quiet: bool = False) -> Iterator:
    """A rich progress bar for one optimisation; yields the engine callback."""
    if quiet:
        yield None
        return
    columns = [
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=False, disable=not interactive()) as progress:
        task = progress.add_task(label, total=None, detail="")

        def callback(info: StepInfo) -> None:
            losses = info.losses
            terms = ", ".join(f"{name} {losses[name]:.3g}" for name in progress_names() if name in losses)
            detail = (
                f"scale {info.scale + 1}/{info.scales} {info.size[1]}x{info.size[0]}  "
                f"loss {losses['total']:.4g} ({terms})"
            )
            if info.note:  # a tiled scale starts: say how it is tiled
                console.print(f"note: {info.note}", highlight=False)
            if info.tiles:  # a tiled scale reports each tile of a step
                detail = f"tile {info.tile}/{info.tiles}  " + detail
                if interactive():
                    done = info.step + info.tile / info.tiles
                    progress.update(task, completed=done, total=info.total_steps, detail=detail)
                return
            progress.update(task, completed=info.step, total=info.total_steps, detail=detail)
            if not interactive():
                console.print(f"{label}: step {info.step}/{info.total_steps} {detail}", highlight=False)

        yield callback
