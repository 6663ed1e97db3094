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
from json.encoder import encode_basestring_ascii
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


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def params_json(params: dict[str, Any]) -> str:
    """`params` as it enters a job's identity (shared by every job with the same settings)."""
    return json.dumps(params, sort_keys=True, default=str)


def _digest(job: Job, inputs: str, params_text: str, weights_identity: str) -> str:
    """sha256 of `json.dumps(ident, sort_keys=True, default=str)` for the identity dict
    {inputs, kind, output, params, style_weights, weights}, built from its pieces so the shared
    settings are serialised once per config, not once per job (the text, so the id, is the same)."""
    parts = (
        ("inputs", f'"{inputs}"'),  # hex digits
        ("kind", f'"{job.kind}"'),  # image or video
        ("output", encode_basestring_ascii(job.output)),  # what json.dumps does with a str
        ("params", params_text),
        ("style_weights", "null" if job.style_weights is None else _dumps(job.style_weights)),
        ("weights", _dumps(weights_identity)),
    )  # in sorted key order, as sort_keys=True writes them
    text = "{" + ", ".join(f'"{key}": {value}' for key, value in parts) + "}"
    return hashlib.sha256(text.encode()).hexdigest()


def job_id(
    job: Job, cfg: StyleConfig, weights_identity: str, params: dict[str, Any] | str | None = None
) -> tuple[str, str]:
    """(job id, inputs hash): a hash of the input files' contents, effective settings and weights.

    `params` is `job_params(cfg)`, or its `params_json`, when the caller already has it (many
    jobs share one config).
    """
    if not isinstance(params, str):
        params = params_json(job_params(cfg) if params is None else params)
    inputs = inputs_hash(job)
    return _digest(job, inputs, params, weights_identity)[:20], inputs


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
    job: Job, cfg: StyleConfig, weights_identity: str, params: dict[str, Any] | str | None = None
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
