"""Video rows of a run: handed one at a time to `stylebatch.video.stylize_video` (which starts its
own workers) after the image jobs, each recorded in the ledger like an image job."""

from __future__ import annotations

import time

from .. import images, storage
from ..errors import StylebatchError
from .destination import Destination
from .jobs import Entry, JobResult
from .ledger import Ledger
from .options import Reporter, RunOptions, RunSummary


def run_video(
    ledger: Ledger,
    dest: Destination,
    entry: Entry,
    options: RunOptions,
    reporter: Reporter,
    summary: RunSummary,
) -> None:
    """A video row: handed to `stylebatch.video.stylize_video` after the image jobs. Storage
    inputs are downloaded into the run's state folder first; a storage output is uploaded
    (video, then sidecar) once the video is finished."""
    job = entry.job
    ledger.mark_running(entry.id, "driver")
    summary.started += 1
    try:
        from ..video import stylize_video
    except ImportError as exc:
        msg = f"video jobs need stylebatch.video.stylize_video, which is not available here ({exc})"
        return _failed(ledger, reporter, entry, msg)
    started = time.time()
    work = dest.state / "video" / entry.id
    local_out = work / "output" / job.output if dest.remote else dest.root / job.output
    try:
        content, *styles = (storage.fetch(p, work / "inputs") for p in (job.content, *job.styles))
        stylize_video(
            content,
            styles,
            local_out,
            entry.cfg,
            run_dir=work,
            style_weights=list(job.style_weights) if job.style_weights else None,
            workers=options.workers,
            address=options.address,
        )
        if dest.remote:
            storage.upload(local_out, dest.location(job.output), then=(images.sidecar_path(local_out),))
    except StylebatchError as exc:
        return _failed(ledger, reporter, entry, str(exc))
    except Exception as exc:  # a bug or an unexpected library error: still this job's failure
        return _failed(ledger, reporter, entry, f"{type(exc).__name__}: {exc}")
    ended = time.time()
    ledger.mark_done(
        entry.id, JobResult(started=started, ended=ended, worker="driver", seconds=ended - started)
    )
    summary.done += 1
    reporter.finished(job.label, True, f"{ended - started:.1f} s")


def _failed(ledger: Ledger, reporter: Reporter, entry: Entry, msg: str) -> None:
    ledger.mark_failed(entry.id, msg)
    reporter.finished(entry.job.label, False, msg)
