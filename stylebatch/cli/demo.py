"""`stylebatch demo`: a first run on the sample images that ship with stylebatch."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from .batch import QuietOpt, WorkersOpt
from .batch import run as batch_run
from .common import DeviceOpt, PipelineOpt, SizeOpt, StepsOpt, WeightsOpt, console

DEMO_MANIFEST = "demo.csv"
# A wheel carries the samples inside the package (pyproject's force-include); a source checkout
# keeps them in manifests/ at the top of the repository.
_REPO_SAMPLES = Path(__file__).resolve().parents[2] / "manifests"


def samples_dir() -> Path:
    """The folder holding demo.csv and its images, packaged copy first."""
    packaged = resources.files("stylebatch") / "_samples"
    for folder in (Path(str(packaged)), _REPO_SAMPLES):
        if (folder / DEMO_MANIFEST).is_file():
            return folder
    raise ConfigError(
        "the sample images are missing from this installation (stylebatch/_samples); "
        "reinstall stylebatch, or run `stylebatch run MANIFEST --out DIR` on your own images"
    )


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory for the demo.")] = Path(
        "stylebatch-demo"
    ),
    weights: WeightsOpt = None,
    size: SizeOpt = None,
    steps: StepsOpt = None,
    pipeline: PipelineOpt = "fast",
    device: DeviceOpt = None,
    workers: WorkersOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Stylise the bundled sample images (4 jobs, the `fast` preset) and write a report; opens nothing.

    Without internet add --weights random (texture-like results from a random VGG-19).

    Example: stylebatch demo --out stylebatch-demo --weights random
    """
    manifest = samples_dir() / DEMO_MANIFEST
    console.print(f"demo: {manifest} -> {out}", highlight=False, soft_wrap=True)
    try:
        batch_run(
            manifest,
            out,
            pipeline=pipeline,
            size=size,
            steps=steps,
            weights=weights,
            device=device,
            workers=workers,
            quiet=quiet,
        )
    except typer.Exit as done:
        page = out / "report.html"
        if page.is_file():
            console.print(
                f"open the report in a browser: {page.resolve().as_uri()}", highlight=False, soft_wrap=True
            )
        raise done
