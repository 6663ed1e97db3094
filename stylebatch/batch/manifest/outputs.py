"""Output names: defaults from the input and style names, safety, length limits and collisions."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .job import VIDEO_EXTENSIONS, Job

IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".webp")
RESERVED_OUTPUTS = ("contact_sheet.jpg",)  # written by the run's report
NAME_MAX = 255  # bytes per file name on nearly every filesystem (os.pathconf tells the real one)
SIDECAR_SUFFIX = ".json"  # the longest name written for an output is its sidecar's


def safe_output(text: str) -> str | None:
    """`text` as a normalised relative POSIX path inside the output directory, or None if it leaves it."""
    if not text or text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text):
        return None
    parts = [p for p in text.split("/") if p not in ("", ".")]  # as PurePosixPath(text).parts
    if ".." in parts or not parts:
        return None
    return "/".join(parts)


def suffix(output: str) -> str:
    """PurePosixPath(output).suffix, without building the path (a manifest has many rows)."""
    name = output.rpartition("/")[2]
    i = name.rfind(".")
    return name[i:] if 0 < i < len(name) - 1 else ""


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
