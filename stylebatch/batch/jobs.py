"""The job boundary: what a worker receives (`JobSpec`), what it returns (`JobResult`), and what
makes two jobs the same (`job_id`: a hash of inputs, effective settings and weights).

A manifest column that maps to a setting reaches the worker inside `JobSpec.cfg` (the job's
effective StyleConfig) and its identity through `job_params`: neither the scheduler nor the
workers name it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..config import StyleConfig
from ..hashing import input_fingerprint
from .manifest import Job, RowError

# settings that change how fast a result comes, not what it is: not part of a job's identity
# (image and video jobs alike)
RUNTIME_ONLY = ("device", "progress_every", "compile", "cuda_graphs", "channels_last", "name", "description")


def job_params(cfg: StyleConfig) -> dict[str, Any]:
    """The settings that decide a job's result."""
    data = cfg.to_dict()
    for key in RUNTIME_ONLY:
        data.pop(key, None)
    return data


def inputs_hash(job: Job) -> str:
    """sha256 over the fingerprints of the job's content and style inputs, in order (a local
    file's content hash; a storage object's version metadata)."""
    inputs = hashlib.sha256()
    for path in (job.content, *job.styles):
        inputs.update(input_fingerprint(path).encode())
    return inputs.hexdigest()


def job_id(
    job: Job, cfg: StyleConfig, weights_identity: str, params: dict[str, Any] | None = None
) -> tuple[str, str]:
    """(job id, inputs hash): a hash of the input files' contents, effective settings and weights.

    `params` is `job_params(cfg)` when the caller already has it (many jobs share one config).
    """
    inputs = inputs_hash(job)
    ident = {
        "inputs": inputs,
        "style_weights": job.style_weights,
        "params": job_params(cfg) if params is None else params,
        "weights": weights_identity,
        "output": job.output,
        "kind": job.kind,
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()
    return digest[:20], inputs


def invalid_id(err: RowError) -> str:
    """The ledger id of an invalid manifest row (its place and text)."""
    return "invalid-" + hashlib.sha256(f"{err.source}:{err.row}:{err.raw}".encode()).hexdigest()[:16]


@dataclass
class Entry:
    """A job as the driver needs it: the manifest job, its effective settings, its identity."""

    id: str
    job: Job
    cfg: StyleConfig
    inputs_hash: str


def make_entry(
    job: Job, cfg: StyleConfig, weights_identity: str, params: dict[str, Any] | None = None
) -> Entry:
    """The entry of `job` run with `cfg` and the weights named by `weights_identity`."""
    ident, inputs = job_id(job, cfg, weights_identity, params)
    return Entry(ident, job, cfg, inputs)


@dataclass(frozen=True)
class JobSpec:
    """One image job as a worker receives it (inputs travel beside it: bytes, paths or URLs)."""

    id: str
    label: str
    content: str
    styles: tuple[str, ...]
    style_weights: tuple[float, ...] | None
    output: str  # relative to the run directory
    row: dict[str, Any]  # {"source": manifest, "line": n}: the sidecar's manifest_row
    cfg: StyleConfig  # the job's effective settings: every manifest override is in here
    worker: str = ""
    destination: str = ""  # a storage URL: the worker writes the output (and sidecar) there

    @classmethod
    def of(cls, entry: Entry, worker: str, destination: str = "") -> JobSpec:
        job = entry.job
        return cls(
            id=entry.id,
            label=job.label,
            content=str(job.content),
            styles=tuple(str(s) for s in job.styles),
            style_weights=job.style_weights or None,
            output=job.output,
            row={"source": job.source, "line": job.row},
            cfg=entry.cfg,
            worker=worker,
            destination=destination,
        )


@dataclass
class JobResult:
    """What a job gave: an encoded image and its sidecar, or an error; what the ledger records."""

    started: float | None = None
    ended: float | None = None
    worker: str | None = None
    node: str | None = None
    error: str | None = None  # set: the job failed (the other outputs are absent)
    data: bytes | None = None  # the encoded output image (None when the worker stored it itself)
    sidecar: dict[str, Any] | None = None
    losses: dict[str, float] | None = None
    history: list[dict[str, float]] | None = None
    seconds: float | None = None
    steps: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None
