"""Soak benchmark: a long batch run's memory and failures, then a driver kill/resume loop.

    .venv/bin/python benchmarks/soak.py [--jobs 500] [--workers 2] [--kills 12] [--json out.json]

Phase 1 runs a manifest of `--jobs` tiny images (32 px, 2 steps, random weights) through
`stylebatch run` (embedded Ray, `--workers` CPU workers) and samples the RSS of the driver and of
each worker actor process every second: start (first jobs done) vs end (last jobs done).
Phase 2 SIGKILLs a `stylebatch run` driver at random points `--kills` times, reruns to the end,
and checks: every output once and decodable, no temp files, ledger intact and agreeing, no
finished output rewritten, and no Ray process left behind by a killed driver.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import faultkit as fk  # noqa: E402


def sample_memory(driver_pid: int, stop: threading.Event, samples: list) -> None:
    while not stop.is_set():
        pids = fk.descendants(driver_pid)
        workers = {p: fk.rss_mb(p) for p in pids if "StyleWorker" in fk.cmdline(p)}
        samples.append((time.time(), fk.rss_mb(driver_pid), workers))
        stop.wait(1.0)


def done_count(run_dir: Path) -> int:
    try:
        return sum(r["status"] == "done" for r in fk.ledger_rows(run_dir))
    except Exception:
        return 0


def phase_memory(work: Path, jobs: int, workers: int) -> dict:
    manifest = fk.image_manifest(work / "in", jobs)
    out = work / "out"
    tmp = Path(tempfile.mkdtemp(prefix="sbs", dir="/tmp"))
    samples: list = []
    progress: list[tuple[float, int]] = []
    stop = threading.Event()
    t0 = time.time()
    proc = fk.stylebatch(
        "run", manifest, "--out", out, *fk.FAST, "--workers", workers, "--quiet",
        env={"RAY_TMPDIR": str(tmp)}, stdout=open(work / "phase1.log", "w"), stderr=None,
    )  # fmt: skip
    sampler = threading.Thread(target=sample_memory, args=(proc.pid, stop, samples), daemon=True)
    sampler.start()
    while proc.poll() is None:
        progress.append((time.time(), done_count(out)))
        time.sleep(2)
    stop.set()
    sampler.join()
    seconds = time.time() - t0
    rows = fk.ledger_rows(out)
    failed = [(r["output"], r["error"]) for r in rows if r["status"] != "done"]
    # "start": the first sample once a few jobs are done (VGG loaded, caches warm); "end": the last
    first_done = next((t for t, n in progress if n >= 2 * workers), None)
    usable = [s for s in samples if s[2] and (first_done is None or s[0] >= first_done)]
    start, end = usable[0], usable[-1]
    leftovers = fk.pids_with(str(tmp))
    fk.kill_pids(leftovers)
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "jobs": jobs,
        "workers": workers,
        "exit_code": proc.returncode,
        "seconds": round(seconds, 1),
        "images_per_hour": round(jobs / seconds * 3600),
        "done": sum(r["status"] == "done" for r in rows),
        "failed": failed,
        "attempts_max": max(r["attempts"] for r in rows),
        "driver_rss_mb": [round(start[1], 1), round(end[1], 1)],
        "worker_rss_mb": [
            [round(v, 1) for v in start[2].values()],
            [round(v, 1) for v in end[2].values()],
        ],
        "leftover_ray_processes": len(leftovers),
    }


def phase_kills(work: Path, jobs: int, workers: int, kills: int, seed: int) -> dict:
    rng = random.Random(seed)
    manifest = fk.image_manifest(work / "kin", jobs)
    out = work / "kout"
    expected = {f"c{i:04d}__style.png" for i in range(jobs)}
    rewritten, leaked, log = [], 0, []
    for k in range(kills):
        before = fk.finished_outputs(out)
        tmp = Path(tempfile.mkdtemp(prefix="sbk", dir="/tmp"))
        proc = fk.stylebatch(
            "run", manifest, "--out", out, *fk.FAST, "--workers", workers, "--quiet",
            env={"RAY_TMPDIR": str(tmp)}, stdout=open(work / "kills.log", "a"), stderr=None,
        )  # fmt: skip
        t0, done0 = time.time(), len(before)
        if k % 3 == 2:  # every third kill during start-up (Ray, actors, VGG-19 loading)
            time.sleep(rng.uniform(1, 15))
        else:  # the others while jobs finish: after the first new output, at a random moment
            while proc.poll() is None and done_count(out) <= done0 and time.time() - t0 < 120:
                time.sleep(0.2)
            time.sleep(rng.uniform(0, 4))
        delay = time.time() - t0
        finished = proc.poll() is not None
        if not finished:
            fk.kill_pids([proc.pid])
            proc.wait()
        time.sleep(3)  # let Ray's own reaper act, then count what a killed driver left behind
        left = fk.pids_with(str(tmp))
        leaked += len(left)
        fk.kill_pids(left)
        shutil.rmtree(tmp, ignore_errors=True)
        after = fk.finished_outputs(out)
        rewritten += [o for o, st in before.items() if after.get(o) != st]
        log.append({"kill": k + 1, "after_s": round(delay, 1), "done": len(after), "finished": finished})
        print(f"kill {k + 1}: after {delay:.1f} s, {len(after)} done, {len(left)} Ray processes left")
    before = fk.finished_outputs(out)
    final = fk.run_cli("run", manifest, "--out", out, *fk.FAST, "--workers", workers, "--quiet", timeout=1800)
    after = fk.finished_outputs(out)
    rewritten += [o for o, st in before.items() if after.get(o) != st]
    rows = fk.check_complete(out, expected)
    return {
        "jobs": jobs,
        "kills": kills,
        "final_exit_code": final.returncode,
        "rewritten_outputs": rewritten,
        "attempts_max": max(r["attempts"] for r in rows),
        "done_before_final_run": len(before),
        "ray_processes_left_by_killed_drivers": leaked,
        "log": log,
        "checks": "every output once, decodable, sidecar, no .tmp, PRAGMA integrity_check ok",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kills", type=int, default=12)
    ap.add_argument("--kill-jobs", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="soak_"))
    try:
        result = {"memory": phase_memory(work, args.jobs, args.workers)}
        print(json.dumps(result["memory"], indent=2), flush=True)
        result["kills"] = phase_kills(work, args.kill_jobs, args.workers, args.kills, args.seed)
        print(json.dumps(result["kills"], indent=2), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
