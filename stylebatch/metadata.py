"""What a sidecar JSON records so an output can be reproduced."""

from __future__ import annotations

import platform
import sys
import time
from importlib import metadata as importlib_metadata
from typing import Any

from .config import StyleConfig


def versions() -> dict[str, str]:
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
        "device": result.device,
        "versions": versions(),
    }
    if data["random_weights"]:
        data["warning"] = "made with RANDOM VGG-19 weights: a smoke test, not real style transfer"
    if extra:
        data.update(extra)
    return data
