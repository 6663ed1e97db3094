"""Run by path (`python -I _reaper.py DRIVER_PID`), beside a driver that started an embedded Ray.

Ray binds its raylet and GCS to the driver (PR_SET_PDEATHSIG), but the raylet's agents
(DashboardAgent, RuntimeEnvAgent) outlive a SIGKILLed driver by about a minute: on noticing the
raylet's death they report it to the dead GCS with a fixed 60 s timeout. This watcher remembers
the Ray part of the driver's process tree (the driver's children that run Ray, and all their
descendants) while the driver lives and, once it is gone (its end of our stdin closes),
SIGKILLs whatever of that is still running. Linux only (/proc); stdlib only.
"""

import os
import signal
import sys
import threading


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[1]), fields[19]) if fields[0] != "Z" else None


def _is_ray(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except OSError:
        return False
    return cmd.startswith(b"ray::") or b"-packages/ray/" in cmd  # Ray's binaries and scripts


def _tree(root: int) -> dict[int, str]:
    """The driver's Ray children and all their descendants: pid -> start time (so a reused pid
    is never killed). Other children of the driver are none of our business."""
    parents: dict[int, list[tuple[int, str]]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (st := _stat(int(name))) is not None:
            parents.setdefault(st[0], []).append((int(name), st[1]))
    out = {pid: start for pid, start in parents.get(root, []) if _is_ray(pid)}
    todo = list(out)
    while todo:
        for pid, start in parents.get(todo.pop(), []):
            out[pid] = start
            todo.append(pid)
    return out


def main() -> None:
    driver = int(sys.argv[1])
    gone = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.buffer.read(), gone.set()), daemon=True).start()
    known: dict[int, str] = {}
    while not gone.wait(0.5):
        known.update(_tree(driver))
    known.pop(os.getpid(), None)
    for pid, start in known.items():
        st = _stat(pid)
        if st is not None and st[1] == start:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C to the terminal is the driver's to handle
    main()
