"""Long-lived Ray actors that stylise images: VGG-19 stays warm, style Grams are cached.

Workers post progress to a small `ProgressBoard` actor that the driver polls, so a busy worker
is never asked anything.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import replace
from typing import Any

import ray

from .. import api, images, metadata, storage, weights
from ..checkpoints import CheckpointFile
from ..config import StyleConfig
from ..engine import Callback, StepInfo, get_extractor, pick_device
from ..errors import InputError, StylebatchError
from .jobs import JobResult, JobSpec


class CountingCache(dict):
    """The style-target cache, counting misses (Gram computations) and hits."""

    def __init__(self) -> None:
        super().__init__()
        self.computed = 0
        self.hits = 0

    def __setitem__(self, key: Any, value: Any) -> None:
        self.computed += 1
        super().__setitem__(key, value)

    def __getitem__(self, key: Any) -> Any:
        self.hits += 1
        return super().__getitem__(key)


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def run_job(
    spec: JobSpec,
    content: bytes | str,
    styles: list[bytes | str],
    cache: dict | None = None,
    callback: Callback | None = None,
) -> JobResult:
    """Decode the inputs, stylise, encode the result. Inputs are bytes, (shared-fs) paths or
    storage URLs; with `spec.destination` the output and its sidecar are uploaded there.

    Returns the encoded image, its sidecar and what the ledger records; a job-level problem
    (bad image, bad settings, out of memory) comes back as a result with `error`, never raised.
    """
    cfg = spec.cfg
    started = time.time()
    try:
        content_img, style_imgs, notes = _load_inputs(spec, content, styles)
        weights_ = list(spec.style_weights) if spec.style_weights else None
        out = api.stylize(
            content_img,
            style_imgs,
            cfg,
            style_weights=weights_,
            callback=callback,
            cache=cache,
            checkpoint=CheckpointFile.for_job(spec.id),  # a retry on this node resumes
        )
        sidecar = _sidecar(spec, out, started, notes)
        data = images.encode(out.image, images.format_for(spec.output), cfg.quality)
        if spec.destination:
            _store(spec.destination, data, sidecar)
            data = None
    except Exception as exc:
        return JobResult(started=started, ended=time.time(), error=_error_message(exc, spec))
    r = out.result
    return JobResult(
        started=started,
        ended=time.time(),
        data=data,
        sidecar=sidecar,
        losses=r.losses,
        history=r.history,
        seconds=r.seconds,
        steps=r.steps,
        notes=notes,
    )


def _load_inputs(
    spec: JobSpec, content: bytes | str, styles: list[bytes | str]
) -> tuple[Any, list, list[str]]:
    """(content image, style images, notes): an animated image's first frame and the like are noted."""
    max_pixels = spec.cfg.max_pixels
    content, *styles = (storage.read_bytes(x) if storage.is_url(x) else x for x in (content, *styles))
    loaded = [images.open_image(content, max_pixels, name=spec.content)]
    loaded += [images.open_image(s, max_pixels, name=n) for s, n in zip(styles, spec.styles, strict=True)]
    names = [spec.content, *spec.styles]
    notes = [f"{os.path.basename(n)}: {note}" for n, x in zip(names, loaded, strict=True) for note in x.notes]
    return loaded[0].image, [x.image for x in loaded[1:]], notes


def _store(url: str, data: bytes, sidecar: dict[str, Any]) -> None:
    """Upload the output, then its sidecar: the sidecar naming the job marks it finished."""
    storage.write_bytes(url, data)
    storage.write_bytes(f"{url}.json", json.dumps(sidecar, indent=2, default=str).encode())


def _sidecar(spec: JobSpec, out: Any, started: float, notes: list[str]) -> dict[str, Any]:
    inputs = {
        "content": spec.content,
        "styles": list(spec.styles),
        "style_weights": list(spec.style_weights) if spec.style_weights else [1.0] * len(spec.styles),
    }
    # with these a lost ledger is rebuilt from the sidecars (batch/rebuild.py)
    extra = {
        "job_id": spec.id,
        "manifest_row": spec.row,
        "output": spec.output,
        "started": started,
        "ended": time.time(),
        "node": socket.gethostname(),
        "worker": spec.worker,
        "history": out.result.history,
        **({"notes": notes} if notes else {}),
    }
    return metadata.sidecar(
        spec.cfg, inputs=inputs, result=out.result, weights_identity=out.result.weights, extra=extra
    )


def _error_message(exc: Exception, spec: JobSpec) -> str:
    """A job's failure as the ledger and the terminal show it."""
    if _is_oom(exc):
        _free_cuda()
        return f"out of memory at size {spec.cfg.size} px ({exc}); try a smaller --size or --set scales=1"
    # an InputError names its file already; anything else gets the job's files in front
    what = str(exc) if isinstance(exc, StylebatchError) else f"{type(exc).__name__}: {exc}"
    return what if isinstance(exc, InputError) else f"{spec.label}: {what}"


def _free_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@ray.remote(num_cpus=0)
class ProgressBoard:
    """Where workers post what they are doing; the driver reads it all in one cheap call."""

    def __init__(self) -> None:
        self.board: dict[str, dict[str, Any] | None] = {}

    def report(self, worker: str, info: dict[str, Any] | None) -> None:
        self.board[worker] = info

    def snapshot(self) -> dict[str, dict[str, Any] | None]:
        return dict(self.board)


@ray.remote
class StyleWorker:
    """One per GPU (or per `--workers` on CPU); holds VGG-19 and a style cache for its life.

    A plain (single-threaded) actor: its calls run one at a time in submission order, so the
    driver knows that the oldest of a worker's in-flight jobs is the one running.
    """

    def __init__(self, name: str, board: Any = None, threads: int | None = None) -> None:
        import torch

        if threads:  # the driver's share of the cluster's CPUs, capped at this node's
            torch.set_num_threads(max(1, min(threads, os.cpu_count() or threads)))
        self.name = name
        self.node = socket.gethostname()
        self.board = board
        self.cache = CountingCache()
        self.jobs_done = 0

    def ping(self) -> dict[str, Any]:
        return {"name": self.name, "node": self.node, "pid": os.getpid()}

    def stats(self) -> dict[str, int]:
        return {"grams_computed": self.cache.computed, "cache_hits": self.cache.hits, "jobs": self.jobs_done}

    def install(self, shipped: weights.Shipped | None) -> None:
        """Take the driver's VGG-19 weights (sent once through the object store)."""
        weights.install(shipped)

    def warm(self, cfg: StyleConfig) -> str:
        """Load VGG-19 now (the engine keeps it per process) so the first job is not slower."""
        get_extractor(cfg, pick_device(cfg.device))
        return self.name

    def _post(self, info: dict[str, Any] | None) -> None:
        if self.board is not None:
            self.board.report.remote(self.name, info)  # fire and forget

    def run(self, spec: JobSpec, content: bytes | str, *styles: bytes | str) -> JobResult:
        """Stylise one job (see `run_job`), posting (job, step, loss) to the progress board."""
        current = {"job": spec.id, "label": spec.label, "step": 0, "total": 0, "loss": None}
        # which device this worker really uses (the terminal says it once per worker)
        device = metadata.describe_device(spec.cfg.device)
        current |= {"device": device, "requested": spec.cfg.device, "node": self.node}
        self._post(current)

        def on_step(info: StepInfo) -> None:  # called every cfg.progress_every steps
            self._post(
                {**current, "step": info.step, "total": info.total_steps, "loss": info.losses.get("total")}
            )

        try:
            result = run_job(spec, content, list(styles), self.cache, on_step)
        finally:
            self._post(None)
        self.jobs_done += result.ok
        return replace(result, worker=self.name, node=self.node)


def make_worker(
    name: str, num_gpus: float, num_cpus: float = 1, threads: int | None = None, board: Any = None
) -> ray.actor.ActorHandle:
    """Start one worker actor; with GPUs its `device="auto"` picks the GPU Ray assigned."""
    return StyleWorker.options(num_gpus=num_gpus, num_cpus=num_cpus, max_restarts=0).remote(
        name, board, threads
    )
