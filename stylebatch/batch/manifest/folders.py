"""Photo folders as jobs (`stylebatch folder`), and the manifest equivalent to a list of jobs."""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path

from PIL import Image

from ... import storage
from ...config import StyleConfig
from ...errors import ConfigError, InputError
from ...hashing import forget_urls, remember_url
from ...storage import Url, location
from .job import VIDEO_EXTENSIONS, Job
from .outputs import default_output, output_problems, style_tags
from .rows import join

HEADER_BYTES = 32  # enough for every format check Pillow makes (it reads 16)


def is_image(path: Path) -> bool:
    """Decided by content: Pillow recognises the header (the extension does not matter)."""
    try:
        with Image.open(path) as img:
            img.size  # noqa: B018 - header parsed
        return True
    except Exception:
        return False


def is_image_header(head: bytes) -> bool:
    """Whether Pillow recognises these first bytes of a file as an image format it opens."""
    Image.init()
    return any(accept is not None and accept(head) for _, accept in Image.OPEN.values())


def scan_prefix(root: Url, exclude: str | None = None, skipped: list | None = None) -> list[Url]:
    """Every image object under a storage prefix, sorted, decided by content like `scan_folder`
    (Pillow's format check on the object's first bytes: a range read, not a download)."""
    keep = []
    skip = str(exclude).rstrip("/") + "/" if exclude and storage.is_url(exclude) else None
    objects = storage.listing(root)
    forget_urls()
    for key in sorted(objects):
        url = root / key
        if any(part.startswith(".") for part in key.split("/")) or (skip and url.startswith(skip)):
            continue
        if url.suffix.lower() in VIDEO_EXTENSIONS or key.endswith(".json"):
            continue
        if is_image_header(storage.read_bytes(url, 0, HEADER_BYTES)):
            keep.append(url)
            remember_url(url, objects[key])  # the job's identity, without another request
        elif skipped is not None:
            skipped.append(url)
    return keep


def scan_folder(
    root: str | os.PathLike,
    exclude: str | os.PathLike | None = None,
    skipped: list[Path] | None = None,
) -> list[Path]:
    """Every image under `root`, recursively, sorted; symlinks followed only inside the tree.

    Files that are not images (by content) are appended to `skipped` when it is given.
    A storage prefix (`s3://bucket/photos/`) is listed by `scan_prefix`.
    """
    if storage.is_url(root):
        return scan_prefix(Url(str(root).rstrip("/")), str(exclude) if exclude else None, skipped)
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
    root = location(root)
    if isinstance(root, Url):
        root = Url(root.rstrip("/"))
    style_paths = list(dict.fromkeys(location(s) for s in styles))  # each style once
    _check_styles(style_paths)
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


def _check_styles(styles: list) -> None:
    for s in styles:
        if isinstance(s, Url):
            try:
                storage.info(s)
            except InputError as exc:
                raise ConfigError(f"style image {exc}") from None
        elif s.is_dir():
            raise ConfigError(f"style image {s} is a directory, not an image")
        elif not s.is_file():
            raise ConfigError(f"style image {s} not found")


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
