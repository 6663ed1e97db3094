"""Photo folders as jobs (`stylebatch folder`), and the manifest equivalent to a list of jobs."""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path

from PIL import Image

from ...config import StyleConfig
from ...errors import ConfigError
from .job import VIDEO_EXTENSIONS, Job
from .outputs import default_output, output_problems, style_tags
from .rows import join


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
        writer.writerow([rel(job.content), join([rel(s) for s in job.styles]), job.output])
    return buf.getvalue()
