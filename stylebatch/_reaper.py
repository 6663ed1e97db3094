"""Run by path (`python -I _reaper.py DRIVER_PID`), beside a driver that started an embedded Ray.

Ray binds its raylet and GCS to the driver (PR_SET_PDEATHSIG), but the raylet's agents
(DashboardAgent, RuntimeEnvAgent) outlive a SIGKILLed driver by about a minute: on noticing the
raylet's death they report it to the dead GCS with a fixed 60 s timeout. This watcher remembers
the driver's process tree while it lives and, once the driver is gone (its end of our stdin
closes), SIGKILLs whatever of that tree is still running. Linux only (/proc); stdlib only.
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


def _tree(root: int) -> dict[int, str]:
    """Every descendant of `root`: pid -> start time (so a reused pid is never killed)."""
    parents: dict[int, list[tuple[int, str]]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (st := _stat(int(name))) is not None:
            parents.setdefault(st[0], []).append((int(name), st[1]))
    out, todo = {}, [root]
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
