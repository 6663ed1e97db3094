"""Where a run's outputs are: its local run directory (written by the driver), or a storage
prefix (`--out s3://bucket/styled/`) that the workers write to themselves while the ledger and
report stay on the driver's disk (`--state`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import storage
from ..errors import InputError
from ..storage import Url
from .sidecars import iter_sidecars, read_sidecar


class Destination:
    """The outputs' root (a local Path or a storage Url) and the few questions a run asks of it.

    For a storage prefix, one listing answers every `exists` of a run's planning (fetched once).
    """

    def __init__(self, root: Path | Url, state: Path | None = None) -> None:
        self.root = root
        self.state = state if state is not None else Path(root)  # the ledger's folder (local)
        self._listing: dict[str, dict[str, Any]] | None = None

    @property
    def remote(self) -> bool:
        return isinstance(self.root, Url)

    def location(self, output: str) -> Path | Url:
        return self.root / output

    def listing(self) -> dict[str, dict[str, Any]]:
        if self._listing is None:
            self._listing = storage.listing(self.root) if self.remote else {}
        return self._listing

    def exists(self, output: str) -> bool:
        return output in self.listing() if self.remote else (self.root / output).exists()

    def sidecar(self, output: str) -> dict[str, Any] | None:
        """The sidecar of `output` when both the output and its sidecar are there."""
        if not self.remote:
            out = self.root / output
            return read_sidecar(Path(f"{out}.json")) if out.is_file() else None
        if output not in self.listing() or f"{output}.json" not in self.listing():
            return None
        try:
            data = json.loads(storage.read_bytes(self.root / f"{output}.json"))
        except (OSError, ValueError, InputError):
            return None
        return data if isinstance(data, dict) else None

    def sidecars(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(output, sidecar) for every output whose sidecar names its job (a ledger rebuild)."""
        if not self.remote:
            yield from iter_sidecars(self.root)
            return
        for name in sorted(self.listing()):
            if name.endswith(".json") and name[: -len(".json")] in self.listing():
                data = self.sidecar(name[: -len(".json")])
                if data is not None and isinstance(data.get("job_id"), str):
                    yield name[: -len(".json")], data


def destination(run_dir: Path, outputs: str | None) -> Destination:
    """The run's Destination: the storage prefix `outputs` when given, else `run_dir`."""
    return Destination(Url(outputs) if outputs else run_dir, run_dir)
