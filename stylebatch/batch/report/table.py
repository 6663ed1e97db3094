"""jobs.csv: every job of a run on one line each, however many (the page shows a capped few)."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .gather import ScanRow

HEADER = (
    "name",
    "status",
    "error",
    "output",
    "content",
    "styles",
    "seconds",
    "attempts",
    "worker",
    "node",
    "loss_total",
    "loss_content",
    "loss_style",
    "manifest",
    "line",
)


class JobsTable:
    """jobs.csv built in memory, one `add` per job in ledger order."""

    def __init__(self) -> None:
        self._buf = io.StringIO()
        self._out = csv.writer(self._buf)
        self._out.writerow(HEADER)

    def add(self, job: ScanRow, name: str, style_text: str) -> None:
        """One job's line: `name` as people see it, `style_text` its styles joined by ';'."""
        losses = ("" if v is None else v for v in (job.loss_total, job.loss_content, job.loss_style))
        seconds = f"{job.seconds:.2f}" if job.seconds else ""
        self._out.writerow(
            (
                name,
                job.status,
                job.error or "",
                job.output or "",
                job.content or "",
                style_text,
                seconds,
                job.attempts,
                job.worker or "",
                job.node or "",
                *losses,
                job.source or "",
                "" if job.row is None else job.row,
            )
        )

    def data(self) -> bytes:
        """The file's bytes (UTF-8)."""
        return self._buf.getvalue().encode()
