"""How long the embedded Ray outlives a `stylebatch run` driver that is stopped by a signal.

Starts `python -m stylebatch run` on a few tiny slow jobs (random weights, CPU), waits until a
job is running, records the driver's process tree (pid + start time, so a reused pid is never
counted), sends the signal, and times until every process of that tree has exited.

    python benchmarks/ray_orphans.py --signal KILL --signal TERM [--tree /path/to/other/checkout]

`--tree` runs another checkout's stylebatch (its directory becomes the working directory), to
compare before and after. Prints one JSON line per signal.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def _tree(root: int) -> dict[int, tuple[str, str]]:
    parents: dict[int, list[int]] = {}
    info: dict[int, tuple[str, str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
            cmd = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(name))
        info[int(name)] = (fields[19], cmd.rsplit("/", 1)[-1])
    out, todo = {}, [root]
    while todo:
        for pid in parents.get(todo.pop(), []):
            out[pid] = info[pid]
            todo.append(pid)
    return out


def _alive(tree: dict[int, tuple[str, str]]) -> list[str]:
    left = []
    for pid, (start, name) in tree.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and fields[19] == start:
            left.append(name)
    return left


def measure(sig: signal.Signals, tree_dir: Path, work: Path) -> dict:
    inputs = work / "in"
    inputs.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(3):
        small = rng.integers(0, 255, (4, 4, 3), dtype=np.uint8)
        Image.fromarray(small).resize((48, 48), Image.BICUBIC).save(inputs / f"c{i}.png")
        rows.append(f"c{i}.png,c0.png")
    (inputs / "m.csv").write_text("content,style\n" + "\n".join(rows) + "\n")
    out = work / f"run-{sig.name}"
    args = ["--weights", "random", "--size", "48", "--steps", "400", "--set", "scales=1", "--device", "cpu"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stylebatch",
            "run",
            str(inputs / "m.csv"),
            "--out",
            str(out),
            *args,
            "--quiet",
        ],
        cwd=tree_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    while proc.poll() is None:
        try:
            db = sqlite3.connect(f"file:{out / 'ledger.sqlite'}?mode=ro", uri=True)
            if db.execute("SELECT COUNT(*) FROM jobs WHERE status='running'").fetchone()[0]:
                break
        except sqlite3.Error:
            pass
        time.sleep(0.2)
    tree = _tree(proc.pid)
    os.kill(proc.pid, sig)
    t0 = time.time()
    _, err = proc.communicate(timeout=300)
    exited = time.time() - t0
    last: list[str] = []
    while (left := _alive(tree)) and time.time() - t0 < 180:
        last = left
        time.sleep(0.1)
    gone = time.time() - t0
    statuses = dict(
        sqlite3.connect(out / "ledger.sqlite").execute("SELECT status, COUNT(*) FROM jobs GROUP BY status")
    )
    return {
        "signal": sig.name,
        "exit_code": proc.returncode,
        "driver_exit_s": round(exited, 2),
        "all_gone_s": round(gone, 2),
        "processes": len(tree),
        "last_left": sorted(set(last)),
        "left_after_180s": sorted(set(left)),
        "ledger": statuses,
        "native_dump": "*** " in err or "Stack trace" in err,
        "traceback": "Traceback" in err,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signal", action="append", default=[], help="KILL, TERM, HUP (repeatable)")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in ns.signal or ["KILL"]:
            result = measure(signal.Signals[f"SIG{name}"], ns.tree, Path(tmp))
            print(json.dumps({"tree": str(ns.tree), **result}), flush=True)


if __name__ == "__main__":
    main()
