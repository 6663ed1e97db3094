"""Report generation on a synthetic 100,000-job run: `stylebatch report DIR` wall time, peak RSS
and the size of what it writes.

The run directory is made without any optimisation: 200 distinct small content images and 3
styles (PNG), a ledger of N rows written with the ledger's own schema (97% done, 2% failed
with a message, 0.5% invalid manifest rows, the rest pending), each done row with a loss
history of `--history-points` entries (50 = a 500-step job read every 10 steps), outputs as
hard links to one 256x192 result and sidecars naming 100 workers on 13 nodes. Then the
command runs twice: cold (every thumbnail made) and warm (thumbnails cached). Never run from
the tests.

    python benchmarks/report_scale.py --rows 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
STYLEBATCH = [sys.executable, "-m", "stylebatch"]


def make_run(root: Path, rows: int, points: int) -> Path:
    from stylebatch.batch.ledger import Ledger

    rng = np.random.default_rng(0)
    inputs, run = root / "inputs", root / "run"
    inputs.mkdir(parents=True)
    contents = []
    for i in range(200):
        arr = (rng.random((72, 96, 3)) * 255).astype(np.uint8)
        contents.append(inputs / f"photo_{i:03d}.png")
        Image.fromarray(arr).save(contents[-1])
    styles = []
    for name in ("starry.png", "scream.png", "waves.png"):
        arr = (rng.random((128, 128, 3)) * 255).astype(np.uint8)
        styles.append(inputs / name)
        Image.fromarray(arr).save(styles[-1])
    result = root / "result.png"
    Image.fromarray((rng.random((192, 256, 3)) * 255).astype(np.uint8)).save(result)
    Ledger(run).close()  # the schema, as the driver makes it
    db = sqlite3.connect(run / "ledger.sqlite")
    now = time.time()
    db.execute(
        "INSERT INTO runs (started, ended, config, options, total) VALUES (?, ?, ?, '{}', ?)",
        (now - 3600, now, json.dumps({"device": "auto", "weights": "random"}), rows),
    )
    params = json.dumps({"size": 256, "steps": 500, "weights": "random", "pipeline": "default"})
    history = json.dumps(
        [
            {"step": 10 * (k + 1), "scale": k * 3 // points, "content": 1.0 / (k + 1), "style": 5.0 / (k + 1),
             "total": 51.0 / (k + 1)}
            for k in range(points)
        ]
    )  # fmt: skip
    losses = json.dumps({"content": 0.02, "style": 0.1, "total": 1.02})
    template = {"device": "cuda:0 (NVIDIA H100 80GB HBM3)", "random_weights": True, "weights": "random:0"}
    sidecar = root / "sidecar.json"
    sidecar.write_text(json.dumps(template))
    batch = []
    for i in range(rows):
        kind, status, output, error = "image", "done", f"out/{i // 1000:03d}/photo_{i:06d}.png", None
        if i % 50 == 7:
            status, error = "failed", f"{contents[i % 200]}: corrupt or truncated image (synthetic)"
        elif i % 200 == 11:
            kind, status, output, error = "invalid", "failed", None, "invalid row: style: file not found"
        elif i % 100 == 13:
            status = "pending"
        worker, node = f"w{i % 100 + 1}", f"node{i % 13 + 1:02d}"
        batch.append(
            (
                f"job{i:08d}", kind, str(root / "manifest.csv"), i + 2, str(contents[i % 200]),
                json.dumps([str(styles[i % 3])]), None, output, params, status, 1 if status != "pending" else 0,
                error, worker if status != "pending" else None, node if status != "pending" else None,
                now - 100, now, 12.5 if status == "done" else None,
                losses if status == "done" else None, history if status == "done" else None, now,
            )
        )  # fmt: skip
        if status == "done":
            target = run / output
            if i % 10_000 == 0:  # a fresh source per 10,000 links (ext4 allows 65,000 per file)
                source, side = root / f"result_{i}.png", root / f"sidecar_{i}.json"
                shutil.copy(result, source)
                shutil.copy(sidecar, side)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, target)
            os.link(side, f"{target}.json")
    db.executemany(
        "INSERT INTO jobs (id, kind, source, row, content, styles, style_weights, output, params, status,"
        " attempts, error, worker, node, started, ended, seconds, losses, history, current, updated)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1,?)",
        batch,
    )
    db.commit()
    db.close()
    return run


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - t0, done


# write_report in a fresh process: import time, each stage's time and the process's peak RSS
PROBE = """
import json, resource, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from stylebatch.batch import report
t1, c1 = time.perf_counter(), time.process_time()
from pathlib import Path
from stylebatch.batch.ledger import Ledger
run = Path(sys.argv[1])
ledger = Ledger(run, readonly=True); t1b = time.perf_counter()
info = report._status(ledger, run); t2 = time.perf_counter()
data, table = report._gather(ledger, run, info); t3 = time.perf_counter()
ledger.close()
(run / report.CSV_NAME).write_bytes(table); t4 = time.perf_counter()
report.contact_sheet(data); t5 = time.perf_counter()
report.html_report(data); t6, c6 = time.perf_counter(), time.process_time()
print(json.dumps({"import": t1 - t0, "open": t1b - t1, "status": t2 - t1b, "scan": t3 - t2, "csv": t4 - t3,
                  "sheet": t5 - t4, "html": t6 - t5, "total": t6 - t1,
                  "cpu": c6 - c1, "import_cpu": c1 - c0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def probe(run: Path) -> dict[str, float]:
    _, done = timed([sys.executable, "-c", PROBE, str(run)])
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--history-points", type=int, default=50)
    ap.add_argument("--work", type=Path, default=HERE / "_work" / "report_scale")
    ap.add_argument("--no-record", action="store_true", help="Do not append to RESULTS.md.")
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    t0 = time.perf_counter()
    run = make_run(args.work, args.rows, args.history_points)
    setup = time.perf_counter() - t0
    ledger_mb = (run / "ledger.sqlite").stat().st_size / 1e6
    cold = probe(run)  # every thumbnail made
    warm = probe(run)  # thumbnails cached
    cli_s, cli = timed([*STYLEBATCH, "report", str(run)])
    thumbs = list((run / "thumbs").glob("*.jpg"))
    page = run / "report.html"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())

    def stages(r: dict[str, float]) -> str:
        return ", ".join(f"{k} {r[k]:.1f} s" for k in ("open", "status", "scan", "csv", "sheet", "html"))

    lines = [
        f"## Report generation at scale (report_scale.py, {stamp})",
        "",
        f"command: `python benchmarks/report_scale.py --rows {args.rows} --history-points {args.history_points}`"
        f" (write_report's stages timed in a fresh process, cold then warm; then `stylebatch report DIR`)",
        "",
        f"device: {platform.machine()} CPU, {os.cpu_count()} cores shared with other work (load average"
        f" {load} at the end); OMP_NUM_THREADS=1; Python {platform.python_version()}",
        "",
        f"synthetic run: {args.rows:,} ledger rows (97% done, 2% failed, 0.5% invalid rows, 0.5% pending),"
        f" {args.history_points} history points per done job, ledger {ledger_mb:.0f} MB; made in {setup:.1f} s",
        "",
        "| measure | value |",
        "|---|---|",
        f"| report written, cold (every thumbnail made) | {cold['total']:.1f} s wall, {cold['cpu']:.1f} s CPU ({stages(cold)}) |",
        f"| report written, warm (thumbnails cached) | {warm['total']:.1f} s wall, {warm['cpu']:.1f} s CPU ({stages(warm)}) |",
        f"| importing stylebatch.batch.report (torch included) | {cold['import']:.1f} s wall ({cold['import_cpu']:.1f} s CPU) cold, "
        f"{warm['import']:.1f} s ({warm['import_cpu']:.1f} s CPU) warm |",
        f"| `stylebatch report DIR` end to end (CLI, imports, summary) | {cli_s:.1f} s (exit {cli.returncode}) |",
        f"| peak RSS of the report process | {max(cold['rss_mb'], warm['rss_mb']):.0f} MB |",
        f"| report.html | {page.stat().st_size / 1e6:.2f} MB |",
        f"| jobs.csv | {(run / 'jobs.csv').stat().st_size / 1e6:.1f} MB, {args.rows:,} lines |",
        f"| contact_sheet.jpg | {(run / 'contact_sheet.jpg').stat().st_size / 1e6:.2f} MB |",
        f"| thumbnails written | {len(thumbs)} files, {sum(p.stat().st_size for p in thumbs) / 1e6:.1f} MB |",
        "",
        "CPU seconds are the process's own (user + system): on a machine this loaded, they estimate the"
        " wall time of a quiet one better than the wall time does (the work is single-threaded).",
        "",
        "What it could hide: outputs are hard links to one small image, so thumbnailing cost is that of"
        " 256x192 PNGs (real 512-2048 px outputs decode slower, but only the capped ~400 are read); the"
        " page shows the first 200 failures and 200 results, the rest are in jobs.csv.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if cli.returncode not in (0, 1):
        print(cli.stderr[-2000:])
    if not args.no_record:
        with open(HERE / "RESULTS.md", "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
