"""`stylebatch pipelines list|show|keys`."""

from __future__ import annotations

import tomllib
from typing import Annotated

import typer

from .. import config, pipelines
from .common import console

app = typer.Typer(help="List and inspect pipeline presets.", no_args_is_help=True)


@app.command("list")
def list_() -> None:
    """List the presets.

    Example: stylebatch pipelines list
    """
    for name, path in pipelines.available().items():
        description = tomllib.loads(path.read_text(encoding="utf-8")).get("description", "")
        console.print(f"[bold]{name:8}[/] {description}", highlight=False)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="Preset name or .toml file.")] = "default",
    set_: Annotated[list[str] | None, typer.Option("--set", help="Overrides to apply.")] = None,
) -> None:
    """Print every setting of a preset after overrides.

    Example: stylebatch pipelines show paper --set size=256
    """
    cfg = pipelines.load(name, config.parse_set(set_))
    for key in config.keys():
        console.print(f"{key} = {config.get_setting(cfg, key)!r}", highlight=False)


@app.command("keys")
def keys_() -> None:
    """List every key --set accepts.

    Example: stylebatch pipelines keys
    """
    for key in config.keys():
        console.print(key)
