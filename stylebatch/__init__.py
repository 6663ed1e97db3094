"""stylebatch: Gatys neural style transfer in bulk, for photo folders, videos and Ray clusters.

The names below load on first use, so the command line (`stylebatch status`, `--help`) starts
without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Stylized": "api",
    "stylize": "api",
    "StyleConfig": "config",
    "VideoConfig": "config",
    "StepInfo": "engine",
    "StyleResult": "engine",
    "Temporal": "engine",
    "stylize_tensors": "engine",
    "ConfigError": "errors",
    "InputError": "errors",
    "StylebatchError": "errors",
    "WeightsError": "errors",
    "load_pipeline": "pipelines:load",
}
__all__ = [
    "ConfigError",
    "InputError",
    "StepInfo",
    "StyleConfig",
    "StyleResult",
    "StylebatchError",
    "Stylized",
    "Temporal",
    "VideoConfig",
    "WeightsError",
    "load_pipeline",
    "stylize",
    "stylize_tensors",
]
assert sorted(__all__) == sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'stylebatch' has no attribute {name!r}")
    module, _, attr = _EXPORTS[name].partition(":")
    value = getattr(importlib.import_module(f".{module}", __name__), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from .api import Stylized, stylize
    from .config import StyleConfig, VideoConfig
    from .engine import StepInfo, StyleResult, Temporal, stylize_tensors
    from .errors import ConfigError, InputError, StylebatchError, WeightsError
    from .pipelines import load as load_pipeline
