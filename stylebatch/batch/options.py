"""What a batch run takes and gives: its cluster options, its summary, and the progress sink."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class RunOptions:
    """How a batch run uses the cluster (the style settings live in StyleConfig)."""

    workers: int | None = None  # default: one per GPU (by gpus_per_worker), else 1 on CPU
    gpus_per_worker: float = 1.0
    address: str | None = None  # join a cluster (else RAY_ADDRESS, else an embedded local Ray)
    shared_fs: bool = False  # inputs are visible to every node by path: do not ship bytes
    outputs: str | None = None  # a storage prefix the workers write to (else the run directory)
    skip_invalid: bool = False
    retry_failed: bool = True


@dataclass
class RunSummary:
    total: int = 0  # jobs of this run (including skipped and invalid)
    done: int = 0  # finished in this run
    skipped: int = 0  # already done by an earlier run
    failed: int = 0  # failed jobs of the run as the ledger has them now
    started: int = 0  # optimisations started in this run
    seconds: float = 0.0
    interrupted: bool = False
    rebuilt: int | None = None  # jobs recovered from sidecars when the ledger was rebuilt

    @property
    def per_hour(self) -> float:
        return self.done / self.seconds * 3600 if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.interrupted else 0


class Reporter:
    """Progress sink; the CLI's rich display overrides these. All no-ops here."""

    wants_progress = False

    def begin(self, total: int) -> None: ...

    def registered(self, done_before: int, to_run: int) -> None:
        """Every job is in the ledger (the first ones may be running already)."""

    def worker(self, name: str, info: dict[str, Any] | None) -> None: ...

    def finished(self, label: str, ok: bool, message: str = "") -> None: ...

    def note(self, text: str) -> None: ...

    def end(self) -> None: ...
