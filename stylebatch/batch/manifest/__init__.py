"""Manifests (CSV / JSONL) and photo folders turned into validated jobs.

A row names a `content` file, one or more `style` files (`;`-separated in CSV, a list in
JSONL) with optional `style_weights`, an optional `output` (relative to the run's output
directory) and per-row overrides of any pipeline setting. Every bad row is reported at once.

The pieces: `rows` reads the file, `columns` checks one row into a Job (where a new column
goes: see its docstring), `outputs` names outputs and finds collisions, `folders` scans photo
folders; `job` holds the types they share.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...config import StyleConfig
from ...storage import location
from .columns import header_errors, row_job
from .folders import folder_jobs, is_image, scan_folder, to_csv
from .job import Job, ManifestError, Parsed, RowError
from .objects import check_objects
from .outputs import default_output, name_max, output_problems, safe_output, style_tags
from .rows import csv_header, csv_rows, is_jsonl, jsonl_rows, read_text


def _add(out: Parsed, job: Job, seen: set[tuple], by_output: dict[str, Job]) -> None:
    """Keep `job` unless it repeats an earlier row (collapsed) or takes another row's output."""
    key = job.identity_key()
    if key in seen:
        out.duplicates += 1
        return
    other = by_output.get(job.output)
    if other is not None:
        problem = f"{job.output} is also the output of line {other.row}"
        out.errors.append(RowError(job.source, job.row, "output", problem))
        return
    own = output_problems([job])  # a name too long for any filesystem
    if own:
        out.errors.append(RowError(job.source, job.row, "output", own[0].split(": ", 1)[1]))
        return
    seen.add(key)
    by_output[job.output] = job
    out.jobs.append(job)


def parse(path: str | os.PathLike, base_cfg: StyleConfig | None = None) -> Parsed:
    """Read a CSV or JSONL manifest: valid jobs (duplicates collapsed) and every bad row."""
    path = location(path)
    base_cfg = base_cfg or StyleConfig()
    text = read_text(path)
    jsonl = is_jsonl(path, text)
    out = Parsed()
    if not jsonl:
        out.errors = header_errors(path, csv_header(text))
        if out.errors:
            out.fatal = True
            return out
    resolved: dict[str, tuple[Path, str]] = {}
    for number, row in jsonl_rows(path, text) if jsonl else csv_rows(path, text):
        if isinstance(row, RowError):
            out.errors.append(row)
        elif not row:
            out.empty += 1
        elif (job := row_job(path, number, row, base_cfg, out.errors, resolved)) is not None:
            out.jobs.append(job)
    candidates, out.jobs = check_objects(out), []  # storage objects: all checked at once
    seen: set[tuple] = set()
    by_output: dict[str, Job] = {}
    for job in candidates:
        _add(out, job, seen, by_output)
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


__all__ = [
    "Job",
    "ManifestError",
    "Parsed",
    "RowError",
    "default_output",
    "folder_jobs",
    "is_image",
    "load",
    "name_max",
    "output_problems",
    "parse",
    "safe_output",
    "scan_folder",
    "style_tags",
    "to_csv",
]
