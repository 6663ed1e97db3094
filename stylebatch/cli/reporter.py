"""The live display of a batch run: overall progress and a line per busy worker."""

from __future__ import annotations

import time
from typing import Any

from rich.progress import TaskID

from .. import metadata
from .common import console, interactive, progress_bar


class RichReporter:
    """Overall done/failed/total with ETA and images/hour, plus a line per busy worker."""

    wants_progress = True

    def __init__(self) -> None:
        self.live = interactive()
        self.progress = progress_bar(disable=not self.live, elapsed=False)
        self.overall: TaskID | None = None
        self.workers: dict[str, TaskID] = {}
        self.done = self.failed = self.total = 0
        self.t0 = time.perf_counter()
        self.done_now = 0
        self.devices: dict[str, str] = {}  # worker -> the device it said it runs on
        self.cpu_noted = False

    def begin(self, total: int) -> None:
        self.total = total
        self.wants_progress = True  # without a terminal too: each worker says its device once
        if self.live:
            self.progress.start()
            self.overall = self.progress.add_task("[bold]jobs", total=total, completed=0, detail="")

    def registered(self, done_before: int, to_run: int) -> None:
        self.done += done_before
        if self.live and self.overall is not None:
            self.progress.update(self.overall, completed=self.done + self.failed)
        console.print(f"{self.total} job(s): {done_before} already done, {to_run} to run", highlight=False)

    def worker(self, name: str, info: dict[str, Any] | None) -> None:
        if info and info.get("device") and name not in self.devices:
            self.devices[name] = info["device"]
            where = f" on {info['node']}" if info.get("node") else ""
            console.print(f"worker {name}{where}: {info['device']}", highlight=False)
            note = metadata.cpu_fallback_note(info.get("requested"), info["device"])
            if note and not self.cpu_noted:  # one line for the run, not one per worker
                self.cpu_noted = True
                console.print(f"[yellow]note:[/] {note}", highlight=False)
        if not self.live:
            return
        if name not in self.workers:
            self.workers[name] = self.progress.add_task(f"  {name}", total=None, detail="idle")
        task = self.workers[name]
        if info is None:
            self.progress.update(task, total=None, completed=0, detail="idle")
            return
        loss = f"loss {info['loss']:.4g}" if info.get("loss") is not None else ""
        self.progress.update(
            task,
            total=info.get("total") or None,
            completed=info.get("step", 0),
            detail=f"{info['label']} {loss}",
        )

    def note(self, text: str) -> None:
        console.print(f"[yellow]note:[/] {text}", highlight=False, soft_wrap=True)

    def finished(self, label: str, ok: bool, message: str = "") -> None:
        if ok:
            self.done += 1
            self.done_now += 1
        else:
            self.failed += 1
        rate = self.done_now / max(time.perf_counter() - self.t0, 1e-9) * 3600
        info = f"done {self.done} failed {self.failed}" + (
            f" · {rate:.0f} images/hour" if self.done_now else ""
        )
        if self.live and self.overall is not None:
            self.progress.update(self.overall, completed=self.done + self.failed, detail=info)
            if not ok:
                self.progress.console.print(f"[red]failed[/] {label}: {message}", highlight=False)
        else:
            state = "done" if ok else "FAILED"
            console.print(
                f"[{self.done + self.failed}/{self.total}] {state} {label} ({message}) · {info}",
                highlight=False,
                soft_wrap=True,
            )

    def end(self) -> None:
        if self.live:
            for task in self.workers.values():  # a last, stale poll must not linger on screen
                self.progress.remove_task(task)
            self.progress.stop()
