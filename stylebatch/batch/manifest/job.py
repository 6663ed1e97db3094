"""What a manifest turns into: a Job per valid row, a RowError per problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config import StyleConfig, apply_overrides
from ...errors import ConfigError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")


@dataclass(frozen=True)
class Job:
    """One unit of work: a content file against one style (or a blend), to one output."""

    content: Path  # absolute
    styles: tuple[Path, ...]  # absolute
    output: str  # relative to the run directory, POSIX separators
    style_weights: tuple[float, ...] | None = None
    overrides: tuple[tuple[str, Any], ...] = ()  # sorted (key, value) pairs
    source: str = ""  # manifest file or folder
    row: int = 0  # line of the manifest (CSV: header is line 1), 0 for folder mode

    @property
    def kind(self) -> str:
        return "video" if self.content.suffix.lower() in VIDEO_EXTENSIONS else "image"

    @property
    def label(self) -> str:
        return f"{self.content.name} x {'+'.join(s.name for s in self.styles)}"

    def config(self, base: StyleConfig) -> StyleConfig:
        return apply_overrides(base, dict(self.overrides)) if self.overrides else base

    def identity_key(self) -> tuple:
        return (self.content, self.styles, self.style_weights, self.output, self.overrides)


@dataclass(frozen=True)
class RowError:
    source: str
    row: int
    field: str
    problem: str
    raw: str = ""

    def __str__(self) -> str:
        where = f"{self.source}, line {self.row}" if self.row else self.source
        return f"{where}, {self.field}: {self.problem}"


@dataclass
class Parsed:
    jobs: list[Job] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    duplicates: int = 0
    empty: int = 0
    fatal: bool = False  # a file-level problem (header, no rows): --skip-invalid cannot help


class ManifestError(ConfigError):
    """A manifest with bad rows; the message lists every one of them."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  {e}" for e in errors)
        super().__init__(
            f"{len(errors)} problem(s) in the manifest (nothing was run; --skip-invalid runs the "
            f"valid rows):\n{lines}"
        )
