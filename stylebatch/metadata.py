"""What a sidecar JSON records so an output can be reproduced."""

from __future__ import annotations

import functools
import platform
import sys
import time
from importlib import metadata as importlib_metadata
from typing import Any

from .config import StyleConfig

# Shown once when `--device auto` ends on the CPU. "Minutes" is measured: 563 ms per L-BFGS step
# at 256 px on a 2-core CPU (README, Performance), so a 512 px image of a few hundred steps is
# minutes; a GPU is not measured yet, so no ratio is claimed.
CPU_FALLBACK_NOTE = (
    "no CUDA GPU found: running on {device}; expect minutes per 512 px image (--device cpu hides this note)"
)


def describe_device(device: Any) -> str:
    """Which device a job runs on, for people: 'cuda:0 (NVIDIA H100 80GB HBM3)', 'cpu (8 threads)'.

    `device` is a torch.device or its name ('auto' resolves as the engine does); never raises.
    """
    import torch

    from .engine import pick_device

    try:
        dev = pick_device(device) if isinstance(device, str) else torch.device(device)
        if dev.type == "cuda":
            index = dev.index if dev.index is not None else torch.cuda.current_device()
            return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
        if dev.type == "cpu":
            threads = torch.get_num_threads()
            return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
        return str(dev)
    except Exception as exc:  # a device the engine would refuse: it says why when it runs
        return f"{device} ({type(exc).__name__})"


def cpu_fallback_note(requested: str | None, described: str) -> str | None:
    """The one line for `--device auto` (the default) that found no GPU; None otherwise."""
    if (requested or "auto") == "auto" and described.startswith("cpu"):
        return CPU_FALLBACK_NOTE.format(device=described)
    return None


def versions() -> dict[str, str]:
    """Library versions for sidecars: read from package metadata once per process."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("stylebatch", "torch", "torchvision", "pillow", "numpy"):
        try:
            out[pkg] = importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def sidecar(
    cfg: StyleConfig,
    *,
    inputs: dict[str, Any],
    result: Any,
    weights_identity: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything needed to reproduce an output: inputs, full settings, seed, weights, versions."""
    data: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "pipeline": cfg.name,
        "seed": cfg.seed,
        "weights": weights_identity,
        "random_weights": weights_identity.startswith("random:"),
        "inputs": inputs,
        "settings": cfg.to_dict(),
        "losses": result.losses,
        "steps": result.steps,
        "seconds": round(result.seconds, 3),
        "sizes": result.sizes,
        "device": describe_device(result.device),
        "versions": versions(),
    }
    if getattr(result, "tiling", None):
        data["tiling"] = result.tiling  # how each tiled scale was cut
    if getattr(result, "resumed_in", None) is not None:  # inside a scale: steps/history cover the rest
        data["resumed_in_scale"] = dict(zip(("scale", "step"), result.resumed_in, strict=True))
    elif getattr(result, "resumed_after", None) is not None:
        data["resumed_after_scale"] = result.resumed_after  # steps/history cover the later scales
    if data["random_weights"]:
        data["warning"] = "made with RANDOM VGG-19 weights: a smoke test, not real style transfer"
    if extra:
        data.update(extra)
    return data
