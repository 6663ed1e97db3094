"""`stylebatch bench`: ms per step, images per hour and peak memory by size on this machine."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ..config import parse_set
from ..errors import ConfigError
from .common import SetOpt, console


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--size {text!r}: expected comma-separated integers, e.g. 128,256,512") from None
    if not sizes or any(s < 16 for s in sizes):
        raise ConfigError(f"--size {text!r}: sizes must be at least 16 pixels")
    return sizes


def bench(
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = "auto",
    size: Annotated[
        str, typer.Option("--size", help="Comma-separated sizes (longest side).")
    ] = "128,256,512",
    steps: Annotated[int, typer.Option("--steps", min=2, help="Timed steps per size.")] = 10,
    precision: Annotated[
        str, typer.Option("--precision", help="auto (bf16 on CUDA, fp32 on CPU), fp32 or bf16.")
    ] = "auto",
    weights_spec: Annotated[
        str, typer.Option("--weights", help="VGG-19 weights; speed does not depend on them.")
    ] = "random",
    set_: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Time optimisation steps by size on this machine (the default pipeline, one scale at a time).

    Prints ms per step, images per hour for the default pipeline's step count (no early
    stop) and peak GPU memory. Other switches via --set, e.g. --set compile=true.

    Example: stylebatch bench --device cuda --size 256,512,1024 --steps 20
    """
    from ..engine import bench as _bench  # late: the engine imports torch

    report = _bench.run(
        _sizes(size),
        steps,
        device=device,
        precision=precision,
        weights=weights_spec,
        overrides=parse_set(set_),
    )
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(_bench.markdown(report))
    if weights_spec != "default":
        console.print(f"[dim]weights: {weights_spec} (timing only; results are not meaningful)[/]")
