"""Connecting to Ray: an embedded local instance by default, or an existing cluster."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from ..errors import ConfigError

# printed by Ray >= 2.59 on every ray.init; meant for clusters, noise for an embedded instance
TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"


def connect(address: str | None = None):
    """Initialise Ray once per process and return the module.

    No address (and no RAY_ADDRESS): start an embedded local instance using this machine's
    resources. With an address ("auto", "ray://host:10001", "host:6379"): join that cluster.
    """
    import ray

    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    main = threading.current_thread() is threading.main_thread()
    # ray.init may install its own handlers; the command's (SIGTERM/SIGHUP as Ctrl-C) must stay
    handlers = (
        {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)} if main else {}
    )
    token_log = logging.getLogger(TOKEN_LOGGER)
    level = token_log.level
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            token_log.setLevel(logging.ERROR)
            _start_reaper()
            ray.init(address="local", **kwargs)
    except ConnectionError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc}") from None
    except SystemExit as exc:  # a signal during ray.init met Ray's handler (sys.exit(signum))
        handler = handlers.get(exc.code) if isinstance(exc.code, int) else None
        if callable(handler):
            handler(exc.code, None)  # the command's own: Terminated, handled like Ctrl-C
        raise
    finally:
        token_log.setLevel(level)
        for sig, handler in handlers.items():
            if handler is not None:
                signal.signal(sig, handler)
    return ray


_REAPER: subprocess.Popen | None = None


def _start_reaper() -> None:
    """Linux: a tiny watcher that kills what is left of this driver's process tree (the embedded
    Ray's agents) as soon as the driver dies, even by SIGKILL. See stylebatch/batch/_reaper.py."""
    global _REAPER
    if _REAPER is not None or not sys.platform.startswith("linux") or not Path("/proc/self/stat").exists():
        return
    try:
        _REAPER = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).with_name("_reaper.py")), str(os.getpid())],
            stdin=subprocess.PIPE,  # our end is not inherited by Ray's processes (PEP 446)
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a kill of the driver's process group leaves it to do its work
        )
    except OSError:
        _REAPER = None
