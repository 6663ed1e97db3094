"""The worker pool: StyleWorker actors kept per driver process, so repeated runs find VGG-19 warm.

Sized from the cluster's resources (one worker per GPU share, or `--workers` on CPU); a worker
that dies is replaced unless the cluster has no room left for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import weights
from ..config import StyleConfig
from ..errors import ConfigError
from .options import RunOptions

PoolSpec = tuple[int, float, float, int | None]  # (workers, GPUs each, CPUs each, torch threads each)


@dataclass
class Worker:
    name: str
    handle: Any
    refs: list = field(default_factory=list)  # in-flight job refs, oldest first (runs first)
    placed: Any = None  # a replacement's first call: it takes jobs once this returns
    weights: set = field(default_factory=set)  # (spec, identity) of the weights already sent to it

    def give_weights(self, spec: str) -> None:
        """Send the driver's weights for `spec` once (actor calls run in order: before its jobs)."""
        key = (spec, weights.ensured(spec).identity)
        if key not in self.weights:
            self.handle.install.remote(weights.share(spec))
            self.weights.add(key)


@dataclass
class _Pool:
    workers: list[Worker] = field(default_factory=list)
    key: tuple | None = None  # (Ray job, resources each): a change starts a new pool
    board: Any = None  # the pool's ProgressBoard actor
    serial: int = 0  # names the workers w1, w2, ...


POOL = _Pool()  # this driver process's


def start_early(options: RunOptions, cfg: StyleConfig) -> None:
    """Start Ray and the pool's workers now, on the driver's main thread (Ray ties the processes it
    starts to the thread that starts them), so they build VGG-19 while the driver reads a big
    manifest; the run's own `get_pool` finds them. The weights of `cfg` must be loaded already
    (`weights.ensure`)."""
    from . import cluster

    ray = cluster.connect(options.address)
    get_pool(ray, pool_size(ray, options, cfg), cfg)


def pool_size(ray, options: RunOptions, cfg: StyleConfig) -> PoolSpec:
    """(workers, GPUs each, CPUs each, torch threads each)."""
    res = ray.cluster_resources()
    gpus = res.get("GPU", 0) if cfg.device != "cpu" else 0
    if gpus and options.gpus_per_worker > 0:
        n = options.workers or max(1, int(gpus // options.gpus_per_worker))
        if n * options.gpus_per_worker > gpus + 1e-9:  # the extra actors would never start
            raise ConfigError(
                f"--workers {n} x --gpus-per-worker {options.gpus_per_worker} needs "
                f"{n * options.gpus_per_worker:g} GPUs; the cluster has {gpus:g}"
            )
        return n, options.gpus_per_worker, 1, None
    cpus = max(1.0, res.get("CPU", 1))
    n = options.workers or 1
    return n, 0, min(1.0, cpus / n), max(1, int(cpus // n))


def room_for_another(ray, spec: PoolSpec, others: int) -> bool:
    """Whether the cluster as it is now (a lost node's resources gone) fits `others` + 1 workers."""
    _, gpus, cpus, _ = spec
    res = ray.cluster_resources()
    if gpus:
        return res.get("GPU", 0) >= gpus * (others + 1)
    return res.get("CPU", 0) >= cpus * (others + 1)


def new_worker(spec: PoolSpec, cfg: StyleConfig) -> Worker:
    from .workers import ProgressBoard, make_worker

    if POOL.board is None:
        POOL.board = ProgressBoard.remote()
    POOL.serial += 1
    name = f"w{POOL.serial}"
    _, gpus, cpus, threads = spec
    worker = Worker(name, make_worker(name, gpus, cpus, threads, POOL.board))
    worker.give_weights(cfg.weights)
    worker.handle.warm.remote(cfg)  # builds VGG-19 while the driver ships the first inputs
    return worker


def get_pool(ray, spec: PoolSpec, cfg: StyleConfig) -> list[Worker]:
    """The pool's live workers for `spec`, started or replaced as needed, with no jobs in flight."""
    key = (ray.get_runtime_context().get_job_id(), spec[1:])
    if key != POOL.key:
        release_workers()
        POOL.key = key
    alive = []
    if POOL.workers:
        pings = [w.handle.ping.remote() for w in POOL.workers]
        for w, ref in zip(POOL.workers, pings, strict=True):
            try:
                ray.get(ref, timeout=60)
                alive.append(w)
            except Exception:
                pass
    POOL.workers = alive
    while len(POOL.workers) < spec[0]:
        POOL.workers.append(new_worker(spec, cfg))
    for w in POOL.workers:
        w.refs = []
    return POOL.workers[: spec[0]]


def replace_worker(ray, pool: list[Worker], dead: Worker, spec: PoolSpec, cfg: StyleConfig) -> None:
    """Kill `dead` and put a new worker in its place in `pool` (and the process's pool), unless its
    node is gone and the rest of the cluster is full: then go on with the workers left."""
    index = pool.index(dead)
    try:
        ray.kill(dead.handle)
    except Exception:
        pass
    if len(pool) > 1 and not room_for_another(ray, spec, len(pool) - 1):
        # a replacement would never be placed (and its jobs would wait forever)
        pool.pop(index)
        POOL.workers.remove(dead)
        return
    new = pool[index] = POOL.workers[POOL.workers.index(dead)] = new_worker(spec, cfg)
    # a lost node's resources may still count for a while: the replacement can be waiting
    # for a place that never comes, so it gets jobs only once it answers
    new.placed = new.handle.ping.remote()


def drop_unplaced(ray, pool: list[Worker]) -> None:
    """Replacements never placed are not needed any more once a run ends."""
    for w in [w for w in pool if w.placed is not None]:
        ray.kill(w.handle)
        POOL.workers.remove(w)


def release_workers() -> None:
    """Kill this process's worker actors (they otherwise live as long as the Ray session)."""
    if POOL.workers or POOL.board is not None:
        import ray

        for handle in [w.handle for w in POOL.workers] + ([POOL.board] if POOL.board is not None else []):
            try:
                ray.kill(handle)
            except Exception:
                pass
    POOL.workers, POOL.key, POOL.board = [], None, None


def worker_stats() -> dict[str, dict[str, int]]:
    """Style-cache counters of the live workers (for tests and diagnostics)."""
    import ray

    return {w.name: ray.get(w.handle.stats.remote()) for w in POOL.workers}
