"""Manifests (CSV / JSONL) and photo folders turned into validated jobs.

A row names a `content` file, one or more `style` files (`;`-separated in CSV, a list in
JSONL) with optional `style_weights`, an optional `output` (relative to the run's output
directory) and per-row overrides of any pipeline setting. Every bad row is reported at once.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image

from ..config import (
    StyleConfig,
    apply_overrides,
    check_setting,
    check_style_weights,
    is_setting,
    require_setting,
)
from ..errors import ConfigError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".webp")
BASE_COLUMNS = ("content", "style", "style_weights", "output")
RESERVED_OUTPUTS = ("contact_sheet.jpg",)  # written by the run's report


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


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"manifest {path} not found") from None
    except IsADirectoryError:
        raise ConfigError(
            f"manifest {path} is a directory (for a photo folder use `stylebatch folder`)"
        ) from None
    try:
        return data.decode("utf-8-sig")  # a BOM is dropped
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"manifest {path} is not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r}); "
            "save it as UTF-8"
        ) from None


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip().lower() for h in header]
    line = reader.line_num
    for values in reader:
        start, line = line + 1, reader.line_num
        if not any(v.strip() for v in values):
            yield start, {}
            continue
        if len(values) > len(header):
            yield start, RowError(str(path), start, "row", f"{len(values)} fields for {len(header)} columns")
            continue
        row = {k: v.strip() for k, v in zip(header, values, strict=False) if k}
        yield start, {k: v for k, v in row.items() if v != ""}


def _jsonl_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            yield number, {}
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, RowError(str(path), number, "row", f"not valid JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            yield number, RowError(str(path), number, "row", "expected a JSON object")
            continue
        yield number, {k: v for k, v in row.items() if v is not None and v != ""}


def _split(value: Any, sep: str = ";") -> list[Any]:
    """A CSV cell's `;`-separated list; a part in single or double quotes is taken whole
    (`'my;style.jpg';b.jpg`), so a file name may contain the separator."""
    if isinstance(value, list):
        return value
    parts: list[str] = []
    rest = str(value).strip()
    while rest:
        quote = rest[0]
        if quote in "'\"" and (end := rest.find(quote + sep, 1)) != -1:
            parts.append(rest[1:end])
            rest = rest[end + 2 :].strip()
        elif quote in "'\"" and len(rest) > 1 and rest.endswith(quote):
            parts.append(rest[1:-1])
            rest = ""
        else:
            part, _, rest = rest.partition(sep)
            parts.append(part.strip())
            rest = rest.strip()
    return [p for p in parts if p]


def _join(values: list[str], sep: str = ";") -> str:
    """The inverse of `_split`: names containing the separator (or starting with a quote) quoted."""
    out = []
    for v in values:
        if sep in v or v[:1] in "'\"":
            quote = "'" if "'" + sep not in v and not v.endswith("'") else '"'
            v = f"{quote}{v}{quote}"
        out.append(v)
    return sep.join(out)


def safe_output(text: str) -> str | None:
    """`text` as a normalised relative POSIX path inside the output directory, or None if it leaves it."""
    if not text or text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text):
        return None
    parts = PurePosixPath(text).parts
    if any(p == ".." for p in parts) or not parts:
        return None
    clean = [p for p in parts if p != "."]
    return "/".join(clean) if clean else None


def _tag(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)


def default_output(
    content: Path,
    styles: tuple[Path, ...],
    base: Path | None,
    fmt: str,
    keep_ext: bool = False,
    tags: tuple[str, ...] | None = None,
) -> str:
    """`sub/photo__style.png`: the content's place under `base` (when inside it) plus the style names.

    `keep_ext` keeps the content's extension (`photo.jpg__style.png`) and `tags` replace the style
    names: folder mode uses them to tell apart inputs that would otherwise share a name.
    """
    rel = content.name
    if base is not None:
        try:
            rel = content.relative_to(base).as_posix()
        except ValueError:
            pass
    rel = rel.replace("\\", "_")  # a backslash in a file name: never a folder in an output name
    stem = rel.rsplit(".", 1)[0] if "." in Path(rel).name and not keep_ext else rel
    tag = "+".join(tags or (_tag(s.stem) for s in styles))
    ext = content.suffix.lower() if content.suffix.lower() in VIDEO_EXTENSIONS else f".{fmt}"
    if ext == ".jpeg":
        ext = ".jpg"
    return f"{stem}__{tag}{ext}"


def style_tags(styles: list[Path]) -> list[str]:
    """A distinct name tag per style file: its stem, else its name, else with parent folders."""
    tags = [_tag(s.stem) for s in styles]
    for depth in range(len(max((s.parts for s in styles), key=len, default=()))):
        clash = [t for t in tags if tags.count(t) > 1]
        if not clash:
            break
        for i, s in enumerate(styles):
            if tags[i] in clash:
                tags[i] = _tag("_".join(s.parts[-depth - 1 :]) if depth else s.name)
    return tags


def _resolve_path(folder: Path, value: str) -> tuple[Path, str]:
    """(absolute path, problem or ''), with one stat."""
    text = os.path.abspath(os.path.join(folder, os.path.expanduser(value)))
    p = Path(text)
    try:
        is_dir = stat.S_ISDIR(os.stat(text).st_mode)
    except OSError:
        return p, f"file not found: {p}"
    return p, f"is a directory, not a file: {p}" if is_dir else ""


def _row_job(
    path: Path,
    number: int,
    row: dict[str, Any],
    base_cfg: StyleConfig,
    errors: list[RowError],
    resolved: dict[str, tuple[Path, str]] | None = None,
) -> Job | None:
    """One row's job, or None with its problems appended to `errors`. `resolved` caches path
    look-ups within one manifest (style files repeat on every row)."""
    before = len(errors)
    src = str(path)

    def bad(field_: str, problem: str) -> None:
        errors.append(RowError(src, number, field_, problem, json.dumps(row, default=str)))

    folder = path.parent
    cache = {} if resolved is None else resolved
    for key in ("content", "style"):
        if key not in row:
            bad(key, "missing (required)")
    overrides: dict[str, Any] = {}
    for key, value in row.items():
        if key in BASE_COLUMNS:
            continue
        try:
            overrides[key] = check_setting(key, value)
        except ConfigError as exc:
            bad(key, str(exc) if is_setting(key) else f"unknown column; {exc}")
    cfg = base_cfg
    if overrides and len(errors) == before:
        try:
            cfg = apply_overrides(base_cfg, overrides)
        except ConfigError as exc:
            bad("overrides", str(exc))

    def resolve(field_: str, value: Any) -> Path | None:
        if not isinstance(value, str) or not value:
            bad(field_, f"expected a path, got {value!r}")
            return None
        if value not in cache:
            cache[value] = _resolve_path(folder, value)
        p, problem = cache[value]
        if problem.startswith("file not found"):
            if field_ == "style" and ";" in str(row.get("style", "")) and not isinstance(row["style"], list):
                problem += " (a file name containing ';' is written in quotes: 'my;style.jpg')"
        if problem:
            bad(field_, problem)
        return p

    content = resolve("content", row["content"]) if "content" in row else None
    styles: list[Path | None] = [resolve("style", s) for s in _split(row.get("style", ""))]
    if "style" in row and not styles:
        bad("style", "no style file given")
    weights: tuple[float, ...] | None = None
    if "style_weights" in row:
        try:
            weights = tuple(float(w) for w in _split(row["style_weights"]))
        except (TypeError, ValueError):
            bad("style_weights", f"expected numbers separated by ';', got {row['style_weights']!r}")
        else:
            if len(weights) != len(styles):
                bad("style_weights", f"{len(weights)} weight(s) for {len(styles)} style(s)")
            else:
                try:
                    check_style_weights(weights, "weights")
                except ConfigError as exc:
                    bad("style_weights", str(exc))
    output = None
    if "output" in row:
        output = safe_output(str(row["output"]))
        if "\\" in str(row["output"]):  # a folder on Windows, a file name on Linux: neither guess
            bad("output", f"{row['output']!r} contains a backslash; use / between folders")
        elif output is None:
            bad("output", f"{row['output']!r} leaves the output directory (use a relative path without ..)")
        else:
            suffix = PurePosixPath(output).suffix.lower()
            is_video = content is not None and content.suffix.lower() in VIDEO_EXTENSIONS
            allowed = VIDEO_EXTENSIONS if is_video else IMAGE_OUTPUTS
            if suffix not in allowed:
                bad("output", f"extension {suffix or '(none)'!r} is not one of {', '.join(allowed)}")
            elif output in RESERVED_OUTPUTS:
                bad("output", f"{output} is the run's own report file; choose another name")
    if len(errors) > before or content is None:
        return None
    style_paths = tuple(s for s in styles if s is not None)
    output = output or default_output(content, style_paths, folder, cfg.format)
    return Job(
        content=content,
        styles=style_paths,
        output=output,
        style_weights=weights,
        overrides=tuple(sorted(overrides.items(), key=lambda kv: kv[0])),
        source=src,
        row=number,
    )


NAME_MAX = 255  # bytes per file name on nearly every filesystem (os.pathconf tells the real one)
SIDECAR_SUFFIX = ".json"  # the longest name written for an output is its sidecar's


def name_max(folder: str | os.PathLike) -> int:
    """The file-name limit of the filesystem holding `folder` (or its nearest existing parent)."""
    path = Path(os.path.abspath(folder))
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return int(os.pathconf(path, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return NAME_MAX


def output_problems(jobs: list[Job], out_dir: str | os.PathLike | None = None) -> list[str]:
    """Why these jobs cannot write their outputs: two jobs on one file, a name too long, a
    reserved name. One line per problem, naming the manifest line or input; empty if none."""
    limit = name_max(out_dir) if out_dir is not None else NAME_MAX
    problems = []
    by_output: dict[str, Job] = {}

    def where(job: Job) -> str:
        return f"{job.source}, line {job.row}" if job.row else str(job.content)

    for job in jobs:
        parts = job.output.split("/")
        longest = max(len(p.encode()) for p in parts[:-1] + [parts[-1] + SIDECAR_SUFFIX])
        if longest > limit:
            problems.append(
                f"{where(job)}: output name {job.output!r} is too long ({longest} bytes with its "
                f"{SIDECAR_SUFFIX} sidecar; this filesystem allows {limit})"
            )
        elif job.output in RESERVED_OUTPUTS:
            problems.append(f"{where(job)}: {job.output} is the run's own report file")
        other = by_output.setdefault(job.output, job)
        if other is not job and other.identity_key() != job.identity_key():
            problems.append(
                f"{where(job)}: writes {job.output}, as does {where(other)} "
                f"({other.content.name} x {'+'.join(s.name for s in other.styles)}); give one another name"
            )
    return problems


def parse(path: str | os.PathLike, base_cfg: StyleConfig | None = None) -> Parsed:
    """Read a CSV or JSONL manifest: valid jobs (duplicates collapsed) and every bad row."""
    path = Path(os.path.abspath(path))
    base_cfg = base_cfg or StyleConfig()
    text = _read_text(path)
    is_jsonl = path.suffix.lower() in (".jsonl", ".ndjson") or (
        path.suffix.lower() != ".csv" and text.lstrip().startswith("{")
    )
    out = Parsed()
    rows = _jsonl_rows(path, text) if is_jsonl else _csv_rows(path, text)
    if not is_jsonl:
        header = next(csv.reader(io.StringIO(text, newline="")), [])
        header = [h.strip().lower() for h in header]
        missing = [c for c in ("content", "style") if c not in header]
        if missing:
            out.errors.append(
                RowError(
                    str(path),
                    1,
                    "header",
                    f"missing column(s) {', '.join(missing)} (found: {', '.join(header) or 'nothing'})",
                )
            )
            out.fatal = True
            return out
        unknown = [h for h in header if h and h not in BASE_COLUMNS]
        for name in unknown:
            try:
                require_setting(name)
            except ConfigError as exc:
                out.errors.append(RowError(str(path), 1, name, f"unknown column; {exc}"))
        if out.errors:
            out.fatal = True
            return out
    resolved: dict[str, tuple[Path, str]] = {}
    seen: dict[tuple, Job] = {}
    by_output: dict[str, Job] = {}
    for number, row in rows:
        if isinstance(row, RowError):
            out.errors.append(row)
            continue
        if not row:
            out.empty += 1
            continue
        job = _row_job(path, number, row, base_cfg, out.errors, resolved)
        if job is None:
            continue
        key = job.identity_key()
        if key in seen:
            out.duplicates += 1
            continue
        other = by_output.get(job.output)
        if other is not None:
            out.errors.append(
                RowError(str(path), number, "output", f"{job.output} is also the output of line {other.row}")
            )
            continue
        own = output_problems([job])  # a name too long for any filesystem
        if own:
            out.errors.append(RowError(str(path), number, "output", own[0].split(": ", 1)[1]))
            continue
        seen[key] = by_output[job.output] = job
        out.jobs.append(job)
    if not out.jobs and not out.errors:
        out.errors.append(RowError(str(path), 0, "manifest", "no rows"))
        out.fatal = True
    return out


def load(path: str | os.PathLike, base_cfg: StyleConfig, skip_invalid: bool = False) -> Parsed:
    """`parse`, raising ManifestError listing every bad row unless `skip_invalid`."""
    parsed = parse(path, base_cfg)
    if parsed.errors and (not skip_invalid or parsed.fatal):
        raise ManifestError(parsed.errors)
    return parsed


# -- photo folders ---------------------------------------------------------------------------


def is_image(path: Path) -> bool:
    """Decided by content: Pillow recognises the header (the extension does not matter)."""
    try:
        with Image.open(path) as img:
            img.size  # noqa: B018 - header parsed
        return True
    except Exception:
        return False


def scan_folder(
    root: str | os.PathLike,
    exclude: str | os.PathLike | None = None,
    skipped: list[Path] | None = None,
) -> list[Path]:
    """Every image under `root`, recursively, sorted; symlinks followed only inside the tree.

    Files that are not images (by content) are appended to `skipped` when it is given.
    """
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder")
    real_root = root.resolve()
    skip = Path(exclude).resolve() if exclude else None
    found: list[Path] = []
    seen_dirs: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = Path(dirpath).resolve()
        if real in seen_dirs or not real.is_relative_to(real_root) or (skip and real.is_relative_to(skip)):
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or not path.resolve().is_relative_to(real_root):
                continue
            if path.suffix.lower() in VIDEO_EXTENSIONS or path.name.endswith(".json"):
                continue
            if path.is_file() and is_image(path):
                found.append(path)
            elif skipped is not None:
                skipped.append(path)
    return found


def folder_jobs(
    root: str | os.PathLike,
    styles: list[Path],
    base_cfg: StyleConfig,
    exclude: str | os.PathLike | None = None,
    skipped: list[Path] | None = None,
) -> list[Job]:
    """Each image of the folder against each style, outputs mirroring the folder structure."""
    root = Path(os.path.abspath(root))
    style_paths = list(dict.fromkeys(Path(os.path.abspath(s)) for s in styles))  # each style once
    for s in style_paths:
        if s.is_dir():
            raise ConfigError(f"style image {s} is a directory, not an image")
        if not s.is_file():
            raise ConfigError(f"style image {s} not found")
    tags = style_tags(style_paths)
    contents = scan_folder(root, exclude, skipped)
    # photo.jpg and photo.png would both become photo__style.png: those keep their extension
    stems = Counter(default_output(c, (), root, "x", tags=("",)) for c in contents)
    jobs = []
    for content in contents:
        keep_ext = stems[default_output(content, (), root, "x", tags=("",))] > 1
        for style, tag in zip(style_paths, tags, strict=True):
            out = default_output(content, (style,), root, base_cfg.format, keep_ext, (tag,))
            jobs.append(Job(content=content, styles=(style,), output=out, source=str(root)))
    if not jobs:
        raise ConfigError(f"no images found under {root}")
    problems = output_problems(jobs)
    if problems:
        raise ConfigError("\n".join(problems) + "\n(nothing was run)")
    return jobs


def to_csv(jobs: list[Job], relative_to: Path) -> str:
    """The manifest equivalent to `jobs`, paths relative to `relative_to` where possible."""

    def rel(p: Path) -> str:
        try:
            return os.path.relpath(p, relative_to)
        except ValueError:
            return str(p)

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["content", "style", "output"])
    for job in jobs:
        writer.writerow([rel(job.content), _join([rel(s) for s in job.styles]), job.output])
    return buf.getvalue()


__all__ = [
    "Job",
    "ManifestError",
    "Parsed",
    "RowError",
    "folder_jobs",
    "is_image",
    "load",
    "parse",
    "scan_folder",
    "to_csv",
]
