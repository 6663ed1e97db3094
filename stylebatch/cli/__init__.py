"""The `stylebatch` command line. Each command lives in a module of this package."""

from __future__ import annotations

import errno
import signal
import sys

import typer
from typer.core import TyperGroup

from ..errors import StylebatchError, os_message
from . import batch as _batch
from . import bench as _bench
from . import demo as _demo
from . import image as _image
from . import metrics as _metrics
from . import pipelines as _pipelines
from . import video as _video
from . import weights as _weights
from .common import console


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled like Ctrl-C (in-flight jobs back to pending, workers stopped)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_RECEIVED: list[int] = []  # Ray's C++ calls turn any signal's exception into a bare KeyboardInterrupt


def _terminate(signum: int, frame: object) -> None:
    if _RECEIVED:  # already stopping: a second signal must not cut the cleanup short (SIGKILL will)
        return
    _RECEIVED.append(signum)
    raise Terminated(signum)


class _Group(TyperGroup):
    """Known errors become one red line and their exit code (2 usage, 1 failed work), no traceback.

    Signals: Ctrl-C exits 130, SIGTERM 143, SIGHUP 129 (128 + the signal), after the command's own
    cleanup ran and the embedded Ray instance was shut down.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except StylebatchError as exc:
            console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            signum = getattr(exc, "signum", _RECEIVED[0] if _RECEIVED else signal.SIGINT)
            console.print(f"[yellow]interrupted[/] ({signal.Signals(signum).name})", highlight=False)
            _shutdown_ray()
            raise typer.Exit(128 + signum) from None
        except OSError as exc:  # a write the command did not expect to fail (disk full, read-only)
            if exc.errno == errno.EPIPE:
                raise
            console.print(f"[red]error:[/] {os_message(exc)}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None


def _shutdown_ray() -> None:
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        try:
            ray.shutdown()
        except BaseException:  # noqa: BLE001 - leaving anyway; a second signal must not dump a stack
            pass


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
app.add_typer(_metrics.app, name="metrics")
app.command()(_batch.run)
app.command()(_batch.folder)
app.command()(_batch.status)
app.command()(_batch.report)
app.command()(_demo.demo)
app.add_typer(_batch.manifest_app, name="manifest")


def main() -> None:
    """Console entry point."""
    for sig in (signal.SIGTERM, signal.SIGHUP):  # what kill, systemd, Slurm and Kubernetes send
        signal.signal(sig, _terminate)
    try:
        app()
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)
