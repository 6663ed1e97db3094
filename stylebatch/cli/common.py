"""What the commands share: the options every stylising command repeats, the console, progress bars."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

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

if TYPE_CHECKING:
    from ..engine import StepInfo

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
StyleWeightsOpt = Annotated[str | None, typer.Option("--style-weights", help="Blend weights, e.g. 0.7,0.3.")]
QuietBarOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


@dataclasses.dataclass(frozen=True)
class SharedOptions:
    """The options every stylising command repeats (image, run, folder, video), as one object.

    A command declares `shared: SharedOptions = SharedOptions()` and is decorated with
    `@with_shared_options`: Typer then sees these fields as options at that place in the signature.
    """

    pipeline: PipelineOpt = "default"
    set_: SetOpt = None
    size: SizeOpt = None
    steps: StepsOpt = None
    seed: SeedOpt = None
    weights: WeightsOpt = None
    device: DeviceOpt = None

    def config(self) -> StyleConfig:
        """Preset, then --set overrides, then the dedicated options (which win)."""
        overrides = parse_set(self.set_)
        for key, value in (
            ("size", self.size),
            ("steps", self.steps),
            ("seed", self.seed),
            ("weights", self.weights),
            ("device", self.device),
        ):
            if value is not None:
                overrides[key] = value
        cfg = pipelines.load(self.pipeline, overrides)
        weights.resolve(cfg.weights)  # a missing --weights file is a usage error before any work
        return cfg


def with_shared_options(command: Callable[..., Any] | None = None, **annotations: Any) -> Callable[..., Any]:
    """Expand a command's `SharedOptions` parameter into one Typer option per field, in place.

    Its default instance gives the defaults (`SharedOptions(pipeline="video")`); `annotations`
    replace a field's option (another help text), e.g. `@with_shared_options(steps=FrameStepsOpt)`.
    """
    if command is None:
        return functools.partial(with_shared_options, **annotations)
    hints = typing.get_type_hints(command, include_extras=True)
    field_hints = typing.get_type_hints(SharedOptions, include_extras=True)
    params, group = [], None
    for p in inspect.signature(command).parameters.values():
        if hints[p.name] is not SharedOptions:
            params.append(p.replace(annotation=hints[p.name]))
            continue
        group = p.name
        for f in dataclasses.fields(SharedOptions):
            annotation = annotations.get(f.name, field_hints[f.name])
            default = getattr(p.default, f.name)
            params.append(inspect.Parameter(f.name, p.kind, default=default, annotation=annotation))
    signature = inspect.signature(command).replace(parameters=params, return_annotation=None)

    @functools.wraps(command)
    def expanded(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = bound.arguments
        shared = SharedOptions(**{f.name: values.pop(f.name) for f in dataclasses.fields(SharedOptions)})
        return command(**values, **{group: shared})

    expanded.__signature__ = signature  # type: ignore[attr-defined]
    expanded.__annotations__ = {p.name: p.annotation for p in params}
    return expanded


def warn_if_random(cfg: StyleConfig) -> None:
    if weights.resolve(cfg.weights).is_random:
        console.print(f"[yellow]warning:[/] {weights.RANDOM_WARNING}")


def interactive() -> bool:
    return console.is_terminal and sys.stderr.isatty()


def progress_bar(*, disable: bool, spinner: bool = False, elapsed: bool = True) -> Progress:
    """The commands' rich progress bar: description, bar, done/total, a `detail` field, times."""
    columns = [SpinnerColumn()] if spinner else []
    columns += [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    columns += [TextColumn("{task.fields[detail]}"), *([TimeElapsedColumn()] if elapsed else [])]
    return Progress(*columns, TimeRemainingColumn(), console=console, disable=disable)


@contextmanager
def step_progress(label: str, quiet: bool = False) -> Iterator:
    """A rich progress bar for one optimisation; yields the engine callback."""
    if quiet:
        yield None
        return
    from ..engine import progress_names  # late: the engine imports torch

    with progress_bar(disable=not interactive(), spinner=True) as progress:
        task = progress.add_task(f"[bold]{label}", total=None, detail="")

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
