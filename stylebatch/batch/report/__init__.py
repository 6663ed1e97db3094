"""A run's report, read from the ledger (and the outputs' sidecars): `status`, a labelled contact
sheet (content | style | result), `report.html` (a gallery: failures first, filters, results large,
loss curves with axes) and `jobs.csv` (every job, for runs too big to show).

Modules: `gather` (the ledger and sidecars), `table` (jobs.csv), `thumbs`, `svg` (loss curves),
`sheet` (contact_sheet.jpg), `cards` and `page` (report.html), `layout` (names, sizes, caps).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ... import images, storage
from ...storage import Url
from ..ledger import Ledger
from . import layout, thumbs
from .gather import RunData, gather, job_name, ledger_status, status
from .layout import (
    CSV_NAME,
    HTML_NAME,
    LARGE_PX,
    SHEET_BAND,
    SHEET_HEAD,
    SHEET_NAME,
    SHEET_PAD,
    SHEET_RESULT,
    SMALL_PX,
    THUMB,
    THUMBS_DIR,
)
from .page import html_report
from .sheet import contact_sheet
from .svg import loss_svg
from .thumbs import thumb_file

__all__ = [
    "CSV_NAME",
    "HTML_NAME",
    "LARGE_PX",
    "SHEET_BAND",
    "SHEET_HEAD",
    "SHEET_NAME",
    "SHEET_PAD",
    "SHEET_RESULT",
    "SMALL_PX",
    "THUMB",
    "THUMBS_DIR",
    "RunData",
    "contact_sheet",
    "html_report",
    "job_name",
    "layout",
    "loss_svg",
    "publish",
    "status",
    "thumb_file",
    "write_report",
]


def write_report(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Write jobs.csv, contact_sheet.jpg and report.html; returns the status dict plus their paths.

    A thumbnail that cannot be written is left out; a page that cannot be written (disk full,
    read-only) raises the OSError for the caller to report in one line.
    """
    run_dir = Path(run_dir)
    ledger = Ledger(run_dir, readonly=True)  # opened once: opening checks the whole file
    try:
        info = ledger_status(ledger, run_dir)
        data, table_bytes = gather(ledger, run_dir, info)
    finally:
        ledger.close()
    table = images.atomic_write(run_dir / CSV_NAME, table_bytes)
    try:
        thumbs.prefetch(_shown_urls(data))
        sheet = contact_sheet(data)
        page = html_report(data)
    finally:
        thumbs.forget_fetched()
    devices = {d: sum(n for _, n in workers) for d, workers in data.devices.items()}
    return {
        **info,
        "devices": devices,
        "contact_sheet": str(sheet) if sheet else None,
        "html": str(page),
        "jobs_csv": str(table),
    }


def _shown_urls(data: RunData) -> list[str]:
    """The storage objects the page and the sheet draw: inputs and outputs of the jobs shown."""
    urls = []
    for job in data.failed + data.done + data.todo:
        urls += [job.get("content") or "", *(job.get("styles") or [])]
        if job.get("output") and job.get("status") == "done":
            urls.append(str(data.outputs / job["output"]))
    return [u for u in urls if storage.is_url(u)]


def publish(run_dir: str | os.PathLike, info: dict[str, Any], outputs: str) -> None:
    """Copy the report (page, contact sheet, jobs.csv, thumbnails) beside a run's storage outputs,
    so report.html opens from the bucket with its links to the results. Raises OSError."""
    run_dir = Path(run_dir)
    files = [Path(p) for p in (info.get("html"), info.get("contact_sheet"), info.get("jobs_csv")) if p]
    thumbs = run_dir / THUMBS_DIR
    files += sorted(thumbs.glob("*.jpg")) if thumbs.is_dir() else []
    storage.write_many({str(Url(outputs) / p.relative_to(run_dir).as_posix()): p.read_bytes() for p in files})
