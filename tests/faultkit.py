"""Helpers for the reliability tests and the soak benchmark: tiny inputs, `stylebatch` subprocesses,
private Ray clusters torn down by process id, and the checks a run directory must pass
(faults injected into the session's Ray workers: faultplug.py).

Every Ray process these helpers start carries a private temp dir in its command line (or descends
from one that does), so teardown kills exactly those processes, never another user's Ray.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from stylebatch.batch.ledger import LEDGER_NAME

# the fastest settings a real run accepts: 32 px, one scale, 2 steps, random VGG-19
FAST = ["--weights", "random", "--size", "32", "--steps", "2", "--set", "scales=1", "--device", "cpu"]


def tiny_image(path: Path, seed: int, size: int = 32) -> Path:
    """A smooth random picture (enough structure for features), saved by extension."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (4, 4, 3), dtype=np.uint8)
    Image.fromarray(small, "RGB").resize((size, size), Image.BICUBIC).save(path)
    return path


def image_manifest(folder: Path, n: int, style: Path | None = None, prefix: str = "c") -> Path:
    """`n` content images plus one style under `folder`, and a CSV manifest listing them."""
    folder.mkdir(parents=True, exist_ok=True)
    style = style or tiny_image(folder / "style.png", 10_000)
    rows = [f"{tiny_image(folder / f'{prefix}{i:04d}.png', i).name},{style.name}" for i in range(n)]
    manifest = folder / "manifest.csv"
    manifest.write_text("content,style\n" + "\n".join(rows) + "\n")
    return manifest


def stylebatch(*args: object, env: dict | None = None, **popen) -> subprocess.Popen:
    """`python -m stylebatch ARGS` as a subprocess (its own session, so it can be killed alone)."""
    cmd = [sys.executable, "-m", "stylebatch", *map(str, args)]
    return subprocess.Popen(
        cmd, env={**os.environ, **(env or {})}, start_new_session=True, text=True, **popen
    )


def run_cli(*args: object, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    proc = stylebatch(*args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        out, err = proc.communicate()
        raise AssertionError(f"stylebatch {args} did not finish in {timeout} s:\n{out}\n{err}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# -- processes ---------------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(entry))
    return kids


def descendants(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pids_with(marker: str) -> list[int]:
    """Processes whose command line contains `marker` (a private temp dir), and their descendants."""
    me = os.getpid()
    roots = [
        int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me and marker in cmdline(int(p))
    ]
    return sorted({d for r in roots for d in descendants(r)})


def kill_pids(pids: list[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def kill_tree(pid: int) -> None:
    kill_pids(descendants(pid))


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """A two-node Ray cluster on this machine (`ray start --head` + `ray start --address`)."""

    def __init__(self, temp_dir: Path, cpus_per_node: int = 1) -> None:
        self.temp_dir = Path(temp_dir)  # short: Ray's unix socket paths must stay under 107 chars
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
        self.cpus = cpus_per_node
        ray = Path(sys.executable).with_name("ray")
        self.ray = str(ray) if ray.exists() else "ray"

    def _start(self, *args: str) -> None:
        cmd = [self.ray, "start", f"--num-cpus={self.cpus}", "--disable-usage-stats", *args]
        subprocess.run(cmd, env=self.env, check=True, capture_output=True, timeout=120)

    def start(self, nodes: int = 2) -> LocalCluster:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self._start(
            "--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={self.temp_dir}"
        )
        for _ in range(nodes - 1):
            self.add_node()
        return self

    def add_node(self) -> None:
        self._start(f"--address={self.address}")

    def raylets(self) -> list[tuple[int, bool]]:
        """(pid, is_head) of this cluster's raylets."""
        out = []
        for pid in pids_with(str(self.temp_dir)):
            line = cmdline(pid)
            if "/raylet/raylet " in line:
                out.append((pid, " --head " in f"{line} "))
        return out

    def stop_worker_node(self) -> None:
        """SIGKILL the raylet of a non-head node (the node is lost, as in a machine failure)."""
        victims = [pid for pid, head in self.raylets() if not head]
        assert victims, "no worker node to stop"
        kill_pids(victims[:1])

    def stop(self) -> None:
        """Tear down by process id (like `ray stop --force`, but only this cluster's processes)."""
        for _ in range(3):
            pids = pids_with(str(self.temp_dir))
            if not pids:
                break
            kill_pids(pids)
            time.sleep(0.5)
        shutil.rmtree(self.temp_dir, ignore_errors=True)  # the session's logs and sockets


# -- what a finished run directory must look like ----------------------------------------------


def ledger_rows(run_dir: Path) -> list[dict]:
    db = sqlite3.connect(f"file:{run_dir / LEDGER_NAME}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM jobs WHERE current = 1")]
    finally:
        db.close()


def integrity(run_dir: Path) -> str:
    db = sqlite3.connect(f"file:{run_dir / LEDGER_NAME}?mode=ro", uri=True)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def temp_files(run_dir: Path) -> list[Path]:
    return [p for p in run_dir.rglob(".*.tmp")]


def check_complete(run_dir: Path, expected_outputs: set[str]) -> list[dict]:
    """Every output exactly once and decodable, no temp files, ledger intact and agreeing."""
    assert integrity(run_dir) == "ok"
    assert not temp_files(run_dir), temp_files(run_dir)
    rows = ledger_rows(run_dir)
    outputs = [r["output"] for r in rows]
    assert sorted(outputs) == sorted(expected_outputs)  # one ledger row per output, none twice
    assert all(r["status"] == "done" for r in rows), [(r["output"], r["status"], r["error"]) for r in rows]
    made = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*.png")}
    assert made == expected_outputs
    for name in expected_outputs:
        with Image.open(run_dir / name) as img:
            img.load()  # decodes fully: never a half-written file
        assert (run_dir / f"{name}.json").is_file()
    return rows


def finished_outputs(run_dir: Path) -> dict[str, tuple[int, int]]:
    """Outputs the ledger records as done now, with (inode, mtime_ns): a rewrite changes both."""
    if not (run_dir / LEDGER_NAME).exists():
        return {}
    out = {}
    for r in ledger_rows(run_dir):
        path = run_dir / (r["output"] or "")
        if r["status"] == "done" and path.is_file():
            st = path.stat()
            out[r["output"]] = (st.st_ino, st.st_mtime_ns)
    return out
