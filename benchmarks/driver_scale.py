"""Driver scale: a manifest of N rows through the whole batch path, with the cheapest real jobs.

Measures, for `stylebatch run MANIFEST --out DIR --steps 0 --size 32 --weights random`:
- seconds from launch to the ledger holding every row, and to the first job finished;
- `stylebatch status DIR --json` wall time while the run goes on (several samples);
- the driver's peak RSS (its process only: Ray's processes are listed apart);
- jobs/second through the whole path over a window, next to Ray's own per-call rate
  (a no-op actor method, same worker count) so the driver's overhead is separated out;
- `stylebatch report DIR` wall time on the resulting ledger.
The run is interrupted (SIGINT) after the window: a 100,000-job run of 0-step jobs would take
longer than the numbers need. Never run from the tests.

    python benchmarks/driver_scale.py --rows 100000 --window 60
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work" / "driver_scale"
STYLEBATCH = [sys.executable, "-m", "stylebatch"]


def make_inputs(rows: int, folder: Path) -> Path:
    """`rows` distinct 32x32 PNGs (tiny, distinct content hashes) and a manifest against one style."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    style = folder / "style.png"
    rng = np.random.default_rng(0)
    if not style.exists():
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(style)
    base = rng.integers(0, 200, (32, 32, 3), dtype=np.uint8)
    manifest = folder / f"manifest_{rows}.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["content", "style", "output"])
        for i in range(rows):
            path = images / f"{i // 1000:03d}" / f"p{i:06d}.png"
            if not path.exists():
                path.parent.mkdir(exist_ok=True)
                img = base.copy()
                img[0, :3, 0] = (i & 255, (i >> 8) & 255, (i >> 16) & 255)  # distinct bytes
                Image.fromarray(img).save(path, compress_level=1)
            writer.writerow([path.relative_to(folder), style.name, f"out/{i:06d}.png"])
    return manifest


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (its own, not its children's)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def ledger_counts(run_dir: Path) -> tuple[int, int]:
    """(rows in the ledger, rows finished); (0, 0) before it exists or while it is locked."""
    path = run_dir / "ledger.sqlite"
    if not path.exists():
        return 0, 0
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            total = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
            done = db.execute("SELECT COUNT(*) FROM jobs WHERE status IN ('done','failed')").fetchone()[0]
        finally:
            db.close()
        return total, done
    except sqlite3.Error:
        return 0, 0


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - t, proc


def ray_call_rate(workers: int, calls: int = 2000) -> float:
    """No-op actor calls per second with `workers` actors, 2 in flight each (as the scheduler)."""
    import ray

    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:

        @ray.remote(num_cpus=1)
        class Noop:
            def run(self, x):
                return x

        actors = [Noop.remote() for _ in range(workers)]
        ray.get([a.run.remote(0) for a in actors])
        t = time.perf_counter()
        pending = [a.run.remote(i) for i, a in enumerate(actors * 2)]
        sent = len(pending)
        owner = {ref: actors[i % workers] for i, ref in enumerate(pending)}
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            actor = owner.pop(ready[0])
            if sent < calls:
                ref = actor.run.remote(sent)
                owner[ref] = actor
                pending.append(ref)
                sent += 1
        return calls / (time.perf_counter() - t)
    finally:
        ray.shutdown()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--window", type=float, default=60.0, help="seconds of running jobs to measure")
    ap.add_argument("--status-samples", type=int, default=5)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()

    env = {**os.environ, "OMP_NUM_THREADS": "1", "STYLEBATCH_OFFLINE": "1"}
    folder = WORK
    t = time.perf_counter()
    manifest = make_inputs(args.rows, folder)
    print(f"inputs ready in {time.perf_counter() - t:.1f} s: {manifest}", flush=True)
    run_dir = folder / f"run_{args.rows}"
    if run_dir.exists():
        subprocess.run(["rm", "-rf", str(run_dir)], check=True)
    cmd = [
        *STYLEBATCH, "run", str(manifest), "--out", str(run_dir), "--weights", "random", "--steps", "0",
        "--size", "32", "--set", "scales=1", "--workers", str(args.workers), "--quiet",
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0.0
    t_rows = t_first = None
    status_times: list[float] = []
    done_at_first = 0
    cpu_first = 0.0
    while proc.poll() is None:
        peak = max(peak, rss_mb(proc.pid))
        rows, finished = ledger_counts(run_dir)
        now = time.perf_counter() - t0
        if t_rows is None and rows >= args.rows:
            t_rows = now
        if t_first is None and finished > 0:
            t_first, done_at_first, cpu_first = now, finished, cpu_seconds(proc.pid)
        if (
            t_first is not None
            and len(status_times) < args.status_samples
            and now > t_first + 2 * (len(status_times) + 1)
        ):
            dt_status, st = timed([*STYLEBATCH, "status", str(run_dir), "--json"])
            if st.returncode == 0:
                status_times.append(dt_status)
        if t_first is not None and now > t_first + args.window:
            break
        time.sleep(0.2)
    window_end = time.perf_counter() - t0
    _, finished_end = ledger_counts(run_dir)
    cpu_window = cpu_seconds(proc.pid) - cpu_first if t_first is not None else 0.0
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    jobs_per_s = (finished_end - done_at_first) / max(window_end - (t_first or window_end), 1e-9)
    report_s, rep = timed([*STYLEBATCH, "report", str(run_dir)])
    ray_rate = ray_call_rate(args.workers)

    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    table = [
        "| measure | result |",
        "|---|---|",
        f"| manifest rows | {args.rows:,} |",
        f"| launch -> every row in the ledger | {fmt(t_rows)} s |",
        f"| launch -> first job finished | {fmt(t_first)} s |",
        f"| `status --json` during the run | {', '.join(f'{s:.2f}' for s in status_times) or 'n/a'} s |",
        f"| driver peak RSS (window) | {peak:.0f} MB |",
        f"| jobs/s through the whole path ({args.workers} workers, 0 steps, 32 px) | {jobs_per_s:.1f} |",
        f"| driver CPU per finished job (window) | "
        f"{1000 * cpu_window / max(finished_end - done_at_first, 1):.1f} ms |",
        f"| Ray no-op actor calls/s (same workers, 2 in flight each) | {ray_rate:.0f} |",
        f"| `report` on the ledger | {report_s:.1f} s (exit {rep.returncode}) |",
    ]
    text = "\n".join(table)
    print(text)
    print(out[-2000:])
    if not args.no_record:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        with open(HERE / "RESULTS.md", "a") as f:
            f.write(
                f"\n## Driver scale ({stamp})\n\n{platform.node()}, {os.cpu_count()} cores, Python "
                f"{platform.python_version()}. Command: `python benchmarks/driver_scale.py "
                f"{' '.join(sys.argv[1:])}`\n\n{text}\n"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
