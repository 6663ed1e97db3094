"""Reading the outputs' sidecars, which name the job that wrote them (see workers._sidecar): a run
adopts an output its ledger never heard of, and a lost ledger is rebuilt from them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .jobs import Entry

if TYPE_CHECKING:
    from .destination import Destination


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """A sidecar's contents, or None when it cannot be read or is not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def iter_sidecars(run_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(output relative to run_dir, sidecar) for every output whose sidecar names its job."""
    for dirpath, dirnames, filenames in os.walk(run_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in ("thumbs", "video"))
        for name in sorted(filenames):
            output = Path(dirpath) / name[: -len(".json")]
            if not name.endswith(".json") or name.startswith(".") or not output.is_file():
                continue
            data = read_sidecar(Path(dirpath) / name)
            if data is not None and isinstance(data.get("job_id"), str):
                yield output.relative_to(run_dir).as_posix(), data


def finished_output(dest: Destination, entry: Entry) -> dict[str, Any] | None:
    """The sidecar of `entry`'s output if both are there and the sidecar names this very job."""
    if entry.job.kind != "image":
        return None
    data = dest.sidecar(entry.job.output)
    return data if data is not None and data.get("job_id") == entry.id else None


def result_columns(side: dict[str, Any]) -> tuple:
    """(worker, node, started, ended, seconds, losses, history) for the ledger, from a sidecar."""
    timing = tuple(side.get(k) for k in ("worker", "node", "started", "ended", "seconds"))
    return (*timing, json.dumps(side.get("losses")), json.dumps(side.get("history")))
