"""Faults injected into the test session's Ray workers, with no hook in stylebatch: a job whose
input file name contains a listed name kills its worker process or runs out of memory.

conftest.ray_session names `install_faults` as Ray's `worker_process_setup_hook`, so it runs first
in every worker process; tests list faults through the `faults` fixture (`write_faults`). Stdlib
only: every worker process imports this module.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import sys
from pathlib import Path

FAULTS_ENV = "STYLEBATCH_TEST_FAULTS"  # the faults file's path, set for every worker of the session


def install_faults() -> None:
    """Wrap `stylebatch.images.open_image` once a worker imports it (so a worker that opens no
    image never imports torch here): opening an input whose name contains a listed name injects

    - "crash_once": the worker process exits hard, the first time only (a marker file remembers);
    - "crash_always": the worker process exits hard every time;
    - "oom": the call raises torch.OutOfMemoryError (the job fails, the worker lives).
    """
    path = os.environ.get(FAULTS_ENV)
    if path:
        sys.meta_path.insert(0, _WrapOnImport(Path(path)))


class _WrapOnImport(importlib.abc.MetaPathFinder):
    """Finds `stylebatch.images` as usual, then wraps `open_image` right after the module runs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def find_spec(self, name, import_path=None, target=None):
        if name != "stylebatch.images":
            return None
        sys.meta_path.remove(self)  # find the real module, once
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module) -> None:
            run(module)
            real = module.open_image

            def open_image(source, *args, name=None, **kwargs):
                _inject(self.path, Path(str(name or "")).name)
                return real(source, *args, name=name, **kwargs)

            module.open_image = open_image

        spec.loader.exec_module = exec_module
        return spec


def _inject(path: Path, name: str) -> None:
    try:
        faults = json.loads(path.read_text())
    except (OSError, ValueError):
        return  # no faults now
    hit = {kind: next((n for n in names if n in name), None) for kind, names in faults.items()}
    if hit.get("oom"):
        import torch

        raise torch.OutOfMemoryError("injected: CUDA out of memory. Tried to allocate 20.00 GiB")
    if hit.get("crash_always"):
        os._exit(1)
    if hit.get("crash_once"):
        marker = path.with_name(f"{path.name}.crashed-{hit['crash_once']}")
        if not marker.exists():
            marker.touch()
            os._exit(1)


def write_faults(path: Path, **faults: list[str]) -> None:
    """Set the faults (kind=[names]) the session's workers inject from now on; none: clear them."""
    for marker in path.parent.glob(f"{path.name}.crashed-*"):
        marker.unlink()
    if faults:
        path.write_text(json.dumps(faults))
    else:
        path.unlink(missing_ok=True)
