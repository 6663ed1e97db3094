"""Object storage against local files: the same N-job run from a loopback S3 (moto in server mode)
and from a local folder, on the same warm Ray workers.

    python benchmarks/storage.py --jobs 200 --workers 2 --size 64 --steps 10

Both runs go through `stylebatch run` (in this process: one Ray instance, one worker pool) in the
order local, s3, s3, local, so warm-up and drift fall on both sides; each run gets a fresh state
folder, so every job runs. moto runs as its own process (`moto_server`), as a store would.
Reported: wall seconds of the whole command (manifest, hashing or object metadata, jobs, report
and, for S3, its upload) and of the jobs phase alone (the ledger's run record), jobs/s, and the
storage path's cost relative to local files.
What it hides: loopback S3 has no network latency or bandwidth limit (a real bucket adds both,
mostly overlapped with the optimisation by the workers' in-flight queue), and moto is slower
per request than S3. Appends a table to benchmarks/RESULTS.md unless --no-record.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import platform
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _png(seed: int, size: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = rng.random((8, 8, 3))
    img = Image.fromarray((small * 255).astype(np.uint8)).resize((size, size * 3 // 4), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    port = _free_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    os.environ.update(env)  # before Ray starts: its workers inherit the endpoint
    import subprocess

    from typer.testing import CliRunner

    from stylebatch import storage
    from stylebatch.batch import cluster
    from stylebatch.batch.ledger import Ledger
    from stylebatch.cli import app

    # a separate process, as a real store is: its request handling does not share our GIL
    moto = Path(sys.executable).with_name("moto_server")
    server = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stderr=subprocess.DEVNULL)
    time.sleep(3)
    fs, _ = storage.filesystem("s3://bench")
    fs.mkdir("bench")
    work = Path(tempfile.mkdtemp(prefix="stylebatch-storage-bench-"))
    (work / "photos").mkdir()
    (work / "style.png").write_bytes(_png(10_000, 96))
    fs.pipe_file("bench/style.png", (work / "style.png").read_bytes())
    rows = []
    for i in range(args.jobs):
        data = _png(i, args.size + 32)
        (work / "photos" / f"p{i:04d}.png").write_bytes(data)
        fs.pipe_file(f"bench/photos/p{i:04d}.png", data)
        rows.append(f"photos/p{i:04d}.png,style.png")
    manifest = "content,style\n" + "\n".join(rows) + "\n"
    (work / "night.csv").write_text(manifest)
    fs.pipe_file("bench/night.csv", manifest.encode())
    cluster.connect()

    settings = ["--weights", "random", "--size", str(args.size), "--steps", str(args.steps)]
    settings += ["--set", "scales=1", "--device", "cpu", "--workers", str(args.workers), "--quiet"]
    runs: dict[str, list[float]] = {"local": [], "s3": []}
    phases: dict[str, list[float]] = {"local": [], "s3": []}
    for n, kind in enumerate(("local", "s3", "s3", "local")):
        if kind == "local":
            cmd = ["run", str(work / "night.csv"), "--out", str(work / f"out{n}")]
        else:
            cmd = [
                "run",
                "s3://bench/night.csv",
                "--out",
                f"s3://bench/out{n}/",
                "--state",
                str(work / f"st{n}"),
            ]
        t0 = time.perf_counter()
        result = CliRunner().invoke(app, cmd + settings)
        seconds = time.perf_counter() - t0
        if result.exit_code != 0:
            print(result.output)
            return 1
        ledger = Ledger(work / f"out{n}" if kind == "local" else work / f"st{n}", readonly=True)
        run = ledger.last_run()
        ledger.close()
        runs[kind].append(seconds)
        phases[kind].append(run["ended"] - run["started"])
        print(f"{kind}: {seconds:.1f} s (jobs phase {phases[kind][-1]:.1f} s)", flush=True)
    server.terminate()

    mean = {k: (sum(v) / 2, sum(phases[k]) / 2) for k, v in runs.items()}
    rows = []
    for kind, label in (("local", "local files"), ("s3", "loopback S3 (moto server)")):
        whole, jobs = mean[kind]
        each = ", ".join(f"{a:.1f} ({b:.1f})" for a, b in zip(runs[kind], phases[kind], strict=True))
        rows.append(f"| {label} | {each} | {whole:.1f} | {jobs:.1f} | {args.jobs / jobs:.2f} |")
    table = (
        "| inputs and outputs | command s (jobs phase s), in run order | mean command s | mean jobs phase s"
        " | jobs/s (jobs phase) |\n|---|---|---:|---:|---:|\n" + "\n".join(rows) + "\n\n"
        f"Storage path cost: jobs phase **{(mean['s3'][1] / mean['local'][1] - 1) * 100:+.1f}%**, "
        f"whole command (manifest, object metadata, jobs, report and its upload) "
        f"**{(mean['s3'][0] / mean['local'][0] - 1) * 100:+.1f}%**.\n"
    )
    print(table)
    if not args.no_record:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = (
            f"\n## Object storage against local files (storage.py, {stamp})\n\n"
            f"- device: {platform.node()}, {os.cpu_count()} cores, CPU, python {platform.python_version()}\n"
            f"- command: `python benchmarks/storage.py {' '.join(sys.argv[1:])}` "
            f"({args.jobs} jobs, {args.workers} workers, {args.size} px, {args.steps} steps, random VGG-19)\n\n"
            f"{table}"
        )
        with open(RESULTS, "a", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
