"""The `stylebatch` command line. Each command lives in a module of this package."""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from ..errors import StylebatchError
from . import batch as _batch
from . import bench as _bench
from . import image as _image
from . import pipelines as _pipelines
from . import video as _video
from . import weights as _weights
from .common import console


class _Group(TyperGroup):
    """Known errors become one red line and their exit code (2 usage, 1 failed work), no traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except StylebatchError as exc:
            console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="stylebatch",
    cls=_Group,
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
app.command()(_bench.bench)
app.add_typer(_weights.app, name="weights")
app.add_typer(_pipelines.app, name="pipelines")
app.command()(_video.video)
app.add_typer(_video.metrics_app, name="metrics")
app.command()(_batch.run)
app.command()(_batch.folder)
app.command()(_batch.status)
app.command()(_batch.report)
app.add_typer(_batch.manifest_app, name="manifest")


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)
