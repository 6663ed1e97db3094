"""Where and how the engine runs: device, precision, memory layout, the VGG-19 extractor cache
and torch.compile with an eager fallback."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch
from torch import Tensor, nn

from .. import weights
from ..config import StyleConfig
from ..errors import ConfigError
from .vgg import VGGFeatures

Autocast = Callable[[], AbstractContextManager]


def pick_device(name: str = "auto") -> torch.device:
    """`auto` (CUDA when present), `cpu`, `cuda` or `cuda:N`; CUDA asked for but absent is refused."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine")
    return device


def use_bf16(cfg: StyleConfig, device: torch.device) -> bool:
    return cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")


def use_channels_last(cfg: StyleConfig, device: torch.device) -> bool:
    return cfg.channels_last == "on" or (cfg.channels_last == "auto" and device.type == "cuda")


def autocast_for(cfg: StyleConfig, device: torch.device) -> Autocast:
    """A factory of the context the extractor runs in: bf16 autocast, or nothing (fp32)."""
    if not use_bf16(cfg, device):
        return nullcontext
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)


def layout(image: Tensor, cfg: StyleConfig, device: torch.device) -> Tensor:
    """`image` in the memory format the extractor expects (channels_last or as it is)."""
    if use_channels_last(cfg, device):
        return image.contiguous(memory_format=torch.channels_last)
    return image


_EXTRACTORS: OrderedDict[tuple, nn.Module] = OrderedDict()


def get_extractor(cfg: StyleConfig, device: torch.device) -> nn.Module:
    """The VGG-19 feature extractor for `cfg` on `device`, built once per process and kept warm."""
    info = weights.resolve(cfg.weights)
    layers = sorted(set(cfg.content_layers) | set(cfg.style_layers))
    cl = use_channels_last(cfg, device)
    mode = compile_mode(cfg, device)
    key = (info.identity, tuple(layers), cfg.pooling, str(device), cl, mode)
    if key not in _EXTRACTORS:
        model = VGGFeatures(weights.load_features(info), layers, cfg.pooling).to(device)
        if cl:
            model = model.to(memory_format=torch.channels_last)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # autotune conv algorithms per input shape
        if mode is not None:
            model = _Compiled(model, mode)
        _EXTRACTORS[key] = model
        while len(_EXTRACTORS) > 4:
            _EXTRACTORS.popitem(last=False)
    _EXTRACTORS.move_to_end(key)
    return _EXTRACTORS[key]


def compile_mode(cfg: StyleConfig, device: torch.device) -> str | None:
    """torch.compile mode for `cfg`: None (eager), "default", or "reduce-overhead" (CUDA graphs)."""
    if cfg.cuda_graphs and device.type == "cuda":
        return "reduce-overhead"
    return "default" if cfg.compile else None


class _Compiled(nn.Module):
    """A torch.compile'd extractor that falls back to eager if compiling fails.

    torch.compile is lazy: a missing toolchain or an unsupported op only shows at the first
    call, so the fallback lives here rather than around torch.compile itself.
    """

    def __init__(self, model: nn.Module, mode: str) -> None:
        super().__init__()
        self.eager = model
        self.mode = mode
        self.compiled = torch.compile(model, mode=mode, dynamic=False)
        self.ok = False  # a compiled call has succeeded
        self.failed: str | None = None

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        if self.failed is not None:
            return self.eager(image)
        if self.mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()  # earlier outputs may be overwritten now
        if self.ok:
            return self.compiled(image)
        try:
            out = self.compiled(image)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # no compiler toolchain, unsupported op: eager is correct
            self.failed = f"{type(exc).__name__}: {exc}"[:300]
            return self.eager(image)
        self.ok = True
        return out
