"""One manifest row turned into one Job, with every problem of the row reported.

Adding a manifest column:
- A column named like a pipeline setting (any key `stylebatch pipelines keys` lists: `steps`,
  `style_weight`, `video.frame_steps`) needs no code anywhere: `_overrides` checks it with
  `config.check_setting`, the Job carries it in `overrides`, and `Job.config` gives the job its
  effective StyleConfig, which is what reaches the scheduler and the workers. A new field of
  StyleConfig is therefore a manifest column already.
- A column that is not a setting: add its name to BASE_COLUMNS, read and check it in a function
  here called from `row_job` (like `_style_weights` or `_output`), and carry the value on Job.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config import (
    StyleConfig,
    apply_overrides,
    check_setting,
    check_style_weights,
    is_setting,
    require_setting,
)
from ...errors import ConfigError
from ...storage import Url, is_url, join
from .job import VIDEO_EXTENSIONS, Job, RowError
from .outputs import IMAGE_OUTPUTS, RESERVED_OUTPUTS, default_output, safe_output, suffix
from .rows import split

BASE_COLUMNS = ("content", "style", "style_weights", "output")  # every other column is a setting
REQUIRED_COLUMNS = ("content", "style")


def header_errors(path: Path, header: list[str]) -> list[RowError]:
    """A CSV header's problems: a required column missing, else columns that are no setting."""
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        found = ", ".join(header) or "nothing"
        return [RowError(str(path), 1, "header", f"missing column(s) {', '.join(missing)} (found: {found})")]
    errors = []
    for name in (h for h in header if h and h not in BASE_COLUMNS):
        try:
            require_setting(name)
        except ConfigError as exc:
            errors.append(RowError(str(path), 1, name, f"unknown column; {exc}"))
    return errors


def _resolve_path(folder: str, value: str) -> tuple[Path | Url, str]:
    """(absolute path or storage URL, problem or ''), with one stat for a local file (storage
    objects are checked together once the manifest is read: `objects.check_objects`)."""
    p = join(Url(folder) if is_url(folder) else folder, value)
    if isinstance(p, Url):
        return p, ""
    text = str(p)
    try:
        is_dir = stat.S_ISDIR(os.stat(text).st_mode)
    except OSError:
        return p, f"file not found: {p}"
    return p, f"is a directory, not a file: {p}" if is_dir else ""


@dataclass
class _Row:
    """One row being checked: its cells, where it comes from, and the problems found so far."""

    path: Path
    number: int
    cells: dict[str, Any]
    errors: list[RowError]
    resolved: dict[str, tuple[Path, str]]  # path look-ups shared by the rows of one manifest

    def bad(self, field_: str, problem: str) -> None:
        raw = json.dumps(self.cells, default=str)
        self.errors.append(RowError(str(self.path), self.number, field_, problem, raw))

    def resolve(self, field_: str, value: Any) -> Path | None:
        if not isinstance(value, str) or not value:
            self.bad(field_, f"expected a path, got {value!r}")
            return None
        if value not in self.resolved:
            self.resolved[value] = _resolve_path(os.path.dirname(self.path), value)
        p, problem = self.resolved[value]
        style = self.cells.get("style", "")
        if problem.startswith("file not found") and field_ == "style":
            if ";" in str(style) and not isinstance(style, list):
                problem += " (a file name containing ';' is written in quotes: 'my;style.jpg')"
        if problem:
            self.bad(field_, problem)
        return p


def _overrides(row: _Row) -> dict[str, Any]:
    """The row's setting columns, each value converted to its setting's type."""
    overrides: dict[str, Any] = {}
    for key, value in row.cells.items():
        if key in BASE_COLUMNS:
            continue
        try:
            overrides[key] = check_setting(key, value)
        except ConfigError as exc:
            row.bad(key, str(exc) if is_setting(key) else f"unknown column; {exc}")
    return overrides


def _style_weights(row: _Row, n_styles: int) -> tuple[float, ...] | None:
    if "style_weights" not in row.cells:
        return None
    text = row.cells["style_weights"]
    try:
        weights = tuple(float(w) for w in split(text))
    except (TypeError, ValueError):
        row.bad("style_weights", f"expected numbers separated by ';', got {text!r}")
        return None
    if len(weights) != n_styles:
        row.bad("style_weights", f"{len(weights)} weight(s) for {n_styles} style(s)")
    else:
        try:
            check_style_weights(weights, "weights")
        except ConfigError as exc:
            row.bad("style_weights", str(exc))
    return weights


def _output(row: _Row, content: Path | None) -> str | None:
    if "output" not in row.cells:
        return None
    given = row.cells["output"]
    output = safe_output(str(given))
    if "\\" in str(given):  # a folder on Windows, a file name on Linux: neither guess
        row.bad("output", f"{given!r} contains a backslash; use / between folders")
    elif output is None:
        row.bad("output", f"{given!r} leaves the output directory (use a relative path without ..)")
    else:
        ext = suffix(output).lower()
        is_video = content is not None and content.suffix.lower() in VIDEO_EXTENSIONS
        allowed = VIDEO_EXTENSIONS if is_video else IMAGE_OUTPUTS
        if ext not in allowed:
            row.bad("output", f"extension {ext or '(none)'!r} is not one of {', '.join(allowed)}")
        elif output in RESERVED_OUTPUTS:
            row.bad("output", f"{output} is the run's own report file; choose another name")
    return output


def row_job(
    path: Path,
    number: int,
    cells: dict[str, Any],
    base_cfg: StyleConfig,
    errors: list[RowError],
    resolved: dict[str, tuple[Path, str]] | None = None,
) -> Job | None:
    """One row's job, or None with its problems appended to `errors`. `resolved` caches path
    look-ups within one manifest (style files repeat on every row)."""
    row = _Row(path, number, cells, errors, {} if resolved is None else resolved)
    before = len(errors)
    for key in REQUIRED_COLUMNS:
        if key not in cells:
            row.bad(key, "missing (required)")
    overrides = _overrides(row)
    cfg = base_cfg
    if overrides and len(errors) == before:
        try:
            cfg = apply_overrides(base_cfg, overrides)
        except ConfigError as exc:
            row.bad("overrides", str(exc))
    content = row.resolve("content", cells["content"]) if "content" in cells else None
    styles = [row.resolve("style", s) for s in split(cells.get("style", ""))]
    if "style" in cells and not styles:
        row.bad("style", "no style file given")
    weights = _style_weights(row, len(styles))
    output = _output(row, content)
    if len(errors) > before or content is None:
        return None
    style_paths = tuple(s for s in styles if s is not None)
    return Job(
        content=content,
        styles=style_paths,
        output=output or default_output(content, style_paths, path.parent, cfg.format),
        style_weights=weights,
        overrides=tuple(sorted(overrides.items(), key=lambda kv: kv[0])),
        source=str(path),
        row=number,
    )
