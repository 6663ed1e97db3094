"""stylebatch: Gatys neural style transfer in bulk, for photo folders, videos and Ray clusters."""

from .api import Stylized, stylize
from .config import StyleConfig, VideoConfig
from .engine import StepInfo, StyleResult, Temporal, stylize_tensors
from .errors import ConfigError, InputError, StylebatchError, WeightsError
from .pipelines import load as load_pipeline

__version__ = "0.1.0"

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
