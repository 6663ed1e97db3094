"""`stylebatch run|folder|status|report` and `stylebatch manifest make`: batch runs on Ray."""

from __future__ import annotations

import dataclasses
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer
from rich.table import Table

from .. import storage
from ..batch import manifest as mf
from ..batch import report as rp
from ..batch.manifest import Job, RowError
from ..batch.options import RunOptions
from ..config import StyleConfig
from ..errors import ConfigError, StorageError, StylebatchError, storage_message
from .common import SharedOptions, console, warn_if_random, with_shared_options
from .reporter import RichReporter

OutOpt = Annotated[
    str,
    typer.Option(
        "--out", "-o", help="Run directory (outputs, ledger, report), or a storage URL for the outputs."
    ),
]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state",
        help="With a storage --out: the local folder for the ledger and report "
        "(default: in the user's cache, one per URL).",
    ),
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", help="Worker actors (default: one per GPU, else 1).", min=1)
]
GpusOpt = Annotated[
    float, typer.Option("--gpus-per-worker", help="GPUs per worker; fractions share a GPU.", min=0)
]
AddressOpt = Annotated[
    str | None, typer.Option("--address", help="Join a Ray cluster (else RAY_ADDRESS, else local).")
]
SharedFsOpt = Annotated[
    bool, typer.Option("--shared-fs", help="Every node sees the input paths: send paths, not bytes.")
]
NoRetryOpt = Annotated[bool, typer.Option("--no-retry-failed", help="Leave jobs that failed before.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]
RebuildOpt = Annotated[
    bool,
    typer.Option(
        "--rebuild-ledger", help="Rebuild a damaged or lost ledger.sqlite from the outputs' sidecars first."
    ),
]
StylesOpt = Annotated[
    list[str], typer.Option("--style", "-s", help="A style image, a path or a storage URL (repeatable).")
]

# a manifest this big (about 15,000 rows) takes seconds to check: Ray starts meanwhile
EARLY_START_BYTES = 1 << 20
manifest_app = typer.Typer(help="Write manifests.", no_args_is_help=True)


def _print_summary(run_dir: Path, info: dict[str, Any], summary: Any = None) -> None:
    table = Table(title=f"run {run_dir}", show_header=False)
    table.add_row("jobs", str(info["total"]))
    if summary is not None:
        table.add_row("done this run", str(summary.done))
        table.add_row("skipped (already done)", str(summary.skipped))
        if summary.done:
            table.add_row("throughput", f"{summary.per_hour:.1f} images/hour ({summary.seconds:.1f} s)")
    elif info.get("images_per_hour"):
        table.add_row("throughput", f"{info['images_per_hour']} images/hour")
    table.add_row("done", str(info["done"]))
    table.add_row("failed", f"[red]{info['failed']}[/]" if info["failed"] else "0")
    if info["pending"] or info["running"]:
        table.add_row("to do", str(info["pending"] + info["running"]))
    for device, n in (info.get("devices") or {}).items():  # from the sidecars (written by the report)
        table.add_row("ran on", f"{device}: {n} job(s)")
    console.print(table)
    for f in info["failures"]:
        console.print(f"[red]failed[/] {f['job']}: {f['error']}", highlight=False, soft_wrap=True)


class _Flags(NamedTuple):
    """The batch options of `run` and `folder`, in their order on the command line."""

    workers: int | None
    gpus_per_worker: float
    address: str | None
    shared_fs: bool
    skip_invalid: bool
    no_retry_failed: bool
    quiet: bool
    rebuild_ledger: bool

    def options(self) -> RunOptions:
        return RunOptions(
            workers=self.workers,
            gpus_per_worker=self.gpus_per_worker,
            address=self.address,
            shared_fs=self.shared_fs,
            skip_invalid=self.skip_invalid,
            retry_failed=not self.no_retry_failed,
        )


def _size(manifest: str) -> int:
    """The manifest's size in bytes (0 when unknown: its own check says what is wrong)."""
    try:
        return int(storage.info(manifest)["size"]) if storage.is_url(manifest) else os.stat(manifest).st_size
    except (OSError, StylebatchError, KeyError, TypeError, ValueError):
        return 0


def _load(manifest: str, cfg: StyleConfig, flags: _Flags) -> mf.Parsed:
    """The manifest read and checked. A big one takes seconds: it is checked in a thread while the
    weights load and Ray and the workers start (a small one starts them once its jobs are known)."""
    if _size(manifest) < EARLY_START_BYTES:
        return mf.load(manifest, cfg, skip_invalid=flags.skip_invalid)
    from .. import weights
    from ..batch import pool

    with ThreadPoolExecutor(1, thread_name_prefix="manifest") as reader:
        parsed = reader.submit(mf.load, manifest, cfg, flags.skip_invalid)
        weights.ensure(cfg.weights)  # missing weights: one message, and no worker started
        pool.start_early(flags.options(), cfg)
        return parsed.result()


def _places(out: str, state: Path | None) -> tuple[Path, str | None]:
    """(the run's local folder: ledger, report; the storage URL of the outputs or None)."""
    if storage.is_url(out):
        return (state or storage.state_dir(out)), out.rstrip("/") + "/"
    if state is not None:
        raise ConfigError("--state is for a storage --out; a local run keeps its ledger in --out")
    run_dir = storage.location(out)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {out} is a file, not a directory")
    return run_dir, None


def _run_dir(run_dir: str) -> Path:
    """A run's local folder, given as itself or as the storage URL its outputs went to."""
    return storage.state_dir(run_dir.rstrip("/") + "/") if storage.is_url(run_dir) else Path(run_dir)


def _execute(
    out: str, state: Path | None, jobs: list[Job], invalid: list[RowError], cfg: StyleConfig, flags: _Flags
) -> None:
    from ..batch.scheduler import Reporter, run_jobs

    run_dir, outputs = _places(out, state)
    warn_if_random(cfg)
    quiet, rebuild_ledger = flags.quiet, flags.rebuild_ledger
    options = dataclasses.replace(flags.options(), outputs=outputs)
    for err in invalid:
        console.print(f"[yellow]skipped invalid row[/] {err}", highlight=False, soft_wrap=True)
    reporter = Reporter() if quiet else RichReporter()
    # the weights load first (missing ones stop here, before any worker); the jobs' ids and ledger
    # rows are made while the first jobs run
    summary = run_jobs(run_dir, jobs, options, cfg, invalid, reporter, rebuild_ledger=rebuild_ledger)
    info = _report(run_dir, outputs)
    if not quiet:
        _print_summary(out, info, summary)
        if info.get("html"):
            console.print(
                f"report: {info['html']}" + (f", {info['contact_sheet']}" if info["contact_sheet"] else "")
            )
        if outputs and info.get("html"):
            console.print(f"report copied to {outputs}{rp.HTML_NAME}; ledger in {run_dir}", highlight=False)
    raise typer.Exit(summary.exit_code)


def _report(run_dir: Path, outputs: str | None) -> dict[str, Any]:
    """Write the run's report (and copy it beside storage outputs); the status if it cannot be."""
    try:
        info = rp.write_report(run_dir)
        if outputs:
            rp.publish(run_dir, info, outputs)
    except OSError as exc:  # the outputs and the ledger are written; only the report is missing
        console.print(f"[yellow]warning:[/] no report: {storage_message(exc, run_dir)}", highlight=False)
        info = rp.status(run_dir)
        info.setdefault("html", None)
        info.setdefault("contact_sheet", None)
    return info


@with_shared_options
def run(
    manifest: Annotated[str, typer.Argument(help="A CSV or JSONL manifest (a path or a storage URL).")],
    out: OutOpt,
    state: StateOpt = None,
    shared: SharedOptions = SharedOptions(),
    workers: WorkersOpt = None,
    gpus_per_worker: GpusOpt = 1.0,
    address: AddressOpt = None,
    shared_fs: SharedFsOpt = False,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Run the valid rows; record bad ones as failed.")
    ] = False,
    no_retry_failed: NoRetryOpt = False,
    quiet: QuietOpt = False,
    rebuild_ledger: RebuildOpt = False,
) -> None:
    """Run (or resume) every job of a manifest into a run directory.

    Example: stylebatch run manifests/example.csv --out runs/demo --size 512

    Storage: stylebatch run s3://bucket/night.csv --out s3://bucket/styled/
    """
    cfg = shared.config()
    flags = _Flags(
        workers, gpus_per_worker, address, shared_fs, skip_invalid, no_retry_failed, quiet, rebuild_ledger
    )
    parsed = _load(manifest, cfg, flags)
    if parsed.duplicates and not quiet:
        console.print(f"{parsed.duplicates} duplicate row(s) collapsed into one job each")
    _execute(out, state, parsed.jobs, parsed.errors, cfg, flags)


@with_shared_options
def folder(
    photos: Annotated[
        str, typer.Argument(help="A folder of images (searched recursively), or a storage prefix.")
    ],
    styles: StylesOpt,
    out: OutOpt,
    state: StateOpt = None,
    shared: SharedOptions = SharedOptions(),
    workers: WorkersOpt = None,
    gpus_per_worker: GpusOpt = 1.0,
    address: AddressOpt = None,
    shared_fs: SharedFsOpt = False,
    no_retry_failed: NoRetryOpt = False,
    quiet: QuietOpt = False,
    rebuild_ledger: RebuildOpt = False,
) -> None:
    """Stylise every image under a folder against each style, mirroring the folder in DIR.

    Example: stylebatch folder photos/ --style starry_night.jpg --style wave.jpg --out runs/photos
    """
    cfg = shared.config()
    skipped: list[Path] = []
    jobs = mf.folder_jobs(photos, styles, cfg, exclude=out, skipped=skipped)
    if skipped:
        names = ", ".join(_relative(p, photos) for p in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        console.print(
            f"[yellow]note:[/] skipped {len(skipped)} file(s) that are not images: {names}{more}",
            highlight=False,
        )
    flags = _Flags(
        workers, gpus_per_worker, address, shared_fs, False, no_retry_failed, quiet, rebuild_ledger
    )
    _execute(out, state, jobs, [], cfg, flags)


def _relative(path: Any, root: str) -> str:
    return str(path)[len(root.rstrip("/")) + 1 :] if storage.is_url(root) else os.path.relpath(path, root)


def status(
    run_dir: Annotated[str, typer.Argument(help="A run directory (or the storage URL of its outputs).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")] = False,
) -> None:
    """Summarise a run directory: counts, throughput, ETA, failures (also while it runs).

    Example: stylebatch status runs/demo --json
    """
    info = rp.status(_run_dir(run_dir))
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    _print_summary(run_dir, info)
    if info["running_now"]:
        eta = f", ETA {info['eta_s']:.0f} s" if info["eta_s"] is not None else ""
        console.print(f"running: {len(info['in_flight'])} job(s) in flight{eta}", highlight=False)


def report(
    run_dir: Annotated[str, typer.Argument(help="A run directory (or the storage URL of its outputs).")],
) -> None:
    """Write contact_sheet.jpg and report.html for a run and print its summary.

    Example: stylebatch report runs/demo
    """
    try:
        info = rp.write_report(_run_dir(run_dir))
    except OSError as exc:
        raise StorageError(f"no report: {storage_message(exc, run_dir)}") from None
    _print_summary(run_dir, info)
    console.print(f"report: {info['html']}" + (f", {info['contact_sheet']}" if info["contact_sheet"] else ""))
    raise typer.Exit(1 if info["failed"] else 0)


@manifest_app.command("make")
def make(
    photos: Annotated[Path, typer.Argument(help="A folder of images (searched recursively).")],
    styles: StylesOpt,
    relative_to: Annotated[
        Path,
        typer.Option("--relative-to", help="Write paths relative to this folder (where the manifest goes)."),
    ] = Path("."),
    fmt: Annotated[str, typer.Option("--format", help="Output image format: png, jpg or webp.")] = "png",
) -> None:
    """Print the manifest `stylebatch folder` would run (CSV on stdout).

    Example: stylebatch manifest make photos/ --style starry_night.jpg > photos.csv
    """
    cfg = StyleConfig(format=fmt)
    jobs = mf.folder_jobs(photos, styles, cfg)
    typer.echo(mf.to_csv(jobs, relative_to.resolve()), nl=False)
