"""Named presets (TOML files in `pipelines/`) that override StyleConfig defaults."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from .config import StyleConfig, apply_overrides
from .errors import ConfigError

# A wheel carries the presets inside the package; a source checkout keeps them at the top.
_REPO_DIR = Path(__file__).resolve().parent.parent / "pipelines"


def _preset_dirs() -> list[Path]:
    dirs = []
    packaged = resources.files("stylebatch") / "_pipelines"
    if packaged.is_dir():
        dirs.append(Path(str(packaged)))
    if _REPO_DIR.is_dir():
        dirs.append(_REPO_DIR)
    return dirs


def available() -> dict[str, Path]:
    """Preset name -> file, packaged presets first."""
    found: dict[str, Path] = {}
    for d in _preset_dirs():
        for path in sorted(d.glob("*.toml")):
            found.setdefault(path.stem, path)
    return found


def read_preset(name_or_file: str) -> tuple[str, dict[str, Any]]:
    """Raw settings of a preset by name, or of a TOML file by path."""
    path = Path(name_or_file)
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise ConfigError(f"pipeline file {name_or_file} not found")
        name = path.stem
    else:
        presets = available()
        if name_or_file not in presets:
            raise ConfigError(
                f"unknown pipeline {name_or_file!r}; presets: {', '.join(presets)} (or a .toml file)"
            )
        path, name = presets[name_or_file], name_or_file
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"pipeline {path}: not valid TOML ({exc})") from None
    data.setdefault("name", name)
    return name, data


def load(pipeline: str | StyleConfig = "default", overrides: dict[str, Any] | None = None) -> StyleConfig:
    """A StyleConfig from a preset name or TOML file, then `overrides` (dotted keys) on top."""
    if isinstance(pipeline, StyleConfig):
        cfg = pipeline
    else:
        name, data = read_preset(pipeline)
        try:
            cfg = apply_overrides(StyleConfig(), data)
        except ConfigError as exc:
            raise ConfigError(f"pipeline {name}: {exc}") from None
    return apply_overrides(cfg, overrides or {}) if overrides else cfg
