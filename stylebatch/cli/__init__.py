"""The `stylebatch` command line. Each command lives in a module of this package."""

from __future__ import annotations

import sys

import typer

from ..errors import StylebatchError
from . import image as _image
from . import pipelines as _pipelines
from . import weights as _weights
from .common import console

app = typer.Typer(
    name="stylebatch",
    help=(
        "Gatys neural style transfer in bulk: images, photo folders, videos, Ray clusters.\n\n"
        "Example: stylebatch image photo.jpg starry_night.jpg -o out.png"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)
app.command()(_image.image)
app.add_typer(_weights.app, name="weights")
app.add_typer(_pipelines.app, name="pipelines")


def main() -> None:
    """Console entry point: known errors become one message and an exit code, no traceback."""
    try:
        app()
    except StylebatchError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)
