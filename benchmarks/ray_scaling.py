"""Ray scaling: images per hour with N `stylebatch.batch.workers.StyleWorker` actors vs 1.

    python benchmarks/ray_scaling.py --workers 1,2,4,8 --jobs 32 --gpus-per-worker 1
    python benchmarks/ray_scaling.py --address auto ...   # an existing cluster

The driver loop is the one Ray's examples use: one job in flight per warm actor, refilled
from `ray.wait`. Same content and style for every job (style Grams come from each worker's
cache after its first job), random VGG-19 weights. Appends a table to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import io
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from stylebatch import pipelines  # noqa: E402
from stylebatch.batch import cluster, workers  # noqa: E402
from stylebatch.batch.jobs import JobSpec  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((array * 255).astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def inputs(size: int) -> tuple[bytes, bytes]:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    photo = np.stack([0.5 + 0.5 * np.sin(x * 9), y, 0.5 + 0.5 * np.cos((x + y) * 7)], -1)
    rng = np.random.default_rng(0)
    style = rng.random((size // 8, size // 8, 3)).repeat(8, 0).repeat(8, 1)
    return _png(photo), _png(style)


def run(n: int, jobs: int, cfg, content: bytes, style: bytes, gpus: float, threads: int | None) -> float:
    """Seconds for `jobs` jobs on `n` fresh workers (warm-up excluded)."""
    ray = cluster.connect()
    pool = [workers.make_worker(f"bench-{n}-{i}", gpus, 1, threads) for i in range(n)]
    ray.get([w.warm.remote(cfg) for w in pool])
    content_ref, style_ref = ray.put(content), ray.put(style)

    def payload(i: int) -> JobSpec:
        row = {"source": "bench", "line": i}
        return JobSpec(f"job{i}", f"job{i}", "content.png", ("style.png",), None, f"job{i}.png", row, cfg)

    start = time.perf_counter()
    todo = list(range(jobs))
    running = {}
    for w in pool:
        if todo:
            running[w.run.remote(payload(todo.pop()), content_ref, style_ref)] = w
    while running:
        (done,), _ = ray.wait(list(running), num_returns=1)
        w = running.pop(done)
        result = ray.get(done)
        if not result.ok:
            raise RuntimeError(result.error)
        if todo:
            running[w.run.remote(payload(todo.pop()), content_ref, style_ref)] = w
    seconds = time.perf_counter() - start
    for w in pool:
        ray.kill(w)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description="images/hour with N Ray workers vs 1")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--pipeline", default="fast")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads per CPU worker; 0 = cores / N")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    import os

    import ray
    import torch

    cfg = pipelines.load(args.pipeline, {"size": args.size, "weights": "random"})
    content, style = inputs(args.size)
    rows = []
    base = None
    for n in [int(v) for v in args.workers.split(",")]:
        threads = args.threads or (None if args.gpus_per_worker else max(1, (os.cpu_count() or 1) // n))
        seconds = run(n, args.jobs, cfg, content, style, args.gpus_per_worker, threads)
        per_hour = args.jobs / seconds * 3600
        base = base or per_hour
        ratio = per_hour / base
        rows.append(
            f"| {n} | {args.jobs} | {seconds:.1f} | {per_hour:.1f} | {ratio:.2f}x | {ratio / n:.2f} |"
        )
        print(rows[-1], flush=True)
    resources = ray.cluster_resources()
    table = "\n".join(
        [
            "| workers | jobs | seconds | images/hour | vs 1 worker | efficiency (ratio / N, goal >= 0.9) |",
            "|---:|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"\n## Ray scaling ({now})\n\n- cluster: {resources.get('CPU', 0):.0f} CPUs, "
        f"{resources.get('GPU', 0):.0f} GPUs; torch {torch.__version__}; ray {ray.__version__}; "
        f"python {platform.python_version()}\n- command: `python benchmarks/ray_scaling.py {' '.join(sys.argv[1:])}`\n"
        f"- pipeline {args.pipeline} at {args.size} px, random VGG-19\n"
        + (f"- {args.note}\n" if args.note else "")
        + f"\n{table}\n"
    )
    print(table)
    with open(RESULTS, "a", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
