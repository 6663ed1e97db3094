"""`stylebatch weights download|verify|export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import weights as w
from .common import console

app = typer.Typer(help="Get, check and export the VGG-19 weights.", no_args_is_help=True)


@app.command()
def download() -> None:
    """Download torchvision's ImageNet VGG-19 (548 MB) into the torch cache.

    Example: stylebatch weights download
    """
    path = w.download(progress=True)
    console.print(f"weights ready: {path}")


@app.command()
def verify(
    path: Annotated[
        Path | None, typer.Argument(help="A weights file (default: the cached download).")
    ] = None,
) -> None:
    """Check a weights file: VGG-19 layer shapes, and torchvision's hash when it is that file.

    Example: stylebatch weights verify vgg19-features.pth
    """
    report = w.verify(path)
    for key, value in report.items():
        console.print(f"{key}: {value}", highlight=False)
    console.print("[green]ok[/]")


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="Where to write the features-only file (~80 MB).")],
    source: Annotated[
        str | None, typer.Option("--weights", help="Weights to export (default: the ImageNet download).")
    ] = None,
) -> None:
    """Write the conv layers only, for shipping to offline workers (--weights FILE there).

    Example: stylebatch weights export vgg19-features.pth
    """
    path = w.export(out, source)
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB, sha256 {w.file_sha256(path)[:16]})")
    if w.resolve(source).is_random:
        console.print(f"[yellow]warning:[/] {w.RANDOM_WARNING}")
