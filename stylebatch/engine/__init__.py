"""The engine: Gatys style transfer as a pure function of tensors and a StyleConfig.

Nothing here knows about files, manifests, Ray or video; see docs/ARCHITECTURE.md. Modules:
runtime (device, precision, extractor cache, compile), sizes, terms (the loss protocol and
its registry) over losses (the maths), objective (one scale's terms summed), tiles and tiling
(print size), optimise (one scale), pyramid (coarse to fine: `stylize_tensors`).

The names below are loaded on first use, so `stylebatch.engine.vgg` (imported by
stylebatch.weights) does not pull in the rest of the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "stylize_tensors": "pyramid",
    "style_grams": "pyramid",
    "StepInfo": "datatypes",
    "StyleResult": "datatypes",
    "Temporal": "datatypes",
    "Callback": "datatypes",
    "fit_size": "sizes",
    "scale_sizes": "sizes",
    "style_side": "sizes",
    "pick_device": "runtime",
    "use_bf16": "runtime",
    "use_channels_last": "runtime",
    "get_extractor": "runtime",
    "register": "terms",
    "weight_keys": "terms",
    "progress_names": "terms",
}

__all__ = [
    "Callback",
    "StepInfo",
    "StyleResult",
    "Temporal",
    "fit_size",
    "get_extractor",
    "pick_device",
    "progress_names",
    "register",
    "scale_sizes",
    "style_grams",
    "style_side",
    "stylize_tensors",
    "use_bf16",
    "use_channels_last",
    "weight_keys",
]

if TYPE_CHECKING:
    from .datatypes import Callback, StepInfo, StyleResult, Temporal
    from .pyramid import style_grams, stylize_tensors
    from .runtime import get_extractor, pick_device, use_bf16, use_channels_last
    from .sizes import fit_size, scale_sizes, style_side
    from .terms import progress_names, register, weight_keys


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
