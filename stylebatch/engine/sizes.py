"""Sizes of the coarse-to-fine pyramid and of the style image, and resizing between them."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..config import StyleConfig


def fit_size(height: int, width: int, longest: int) -> tuple[int, int]:
    """(h, w) scaled so the longest side is `longest`, aspect kept."""
    scale = longest / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def scale_sizes(cfg: StyleConfig) -> list[int]:
    """Longest side of each coarse-to-fine level, coarsest first, ending at cfg.size."""
    sizes = []
    for i in range(cfg.scales):
        side = round(cfg.size / cfg.scale_ratio ** (cfg.scales - 1 - i))
        if side >= min(cfg.min_scale_size, cfg.size) and side not in sizes:
            sizes.append(side)
    return sizes or [cfg.size]


def style_side(longest: int, cfg: StyleConfig) -> int:
    """Longest side the style image is analysed at for an output whose longest side is `longest`."""
    return max(16, round(longest * cfg.style_scale))


def resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    """Bicubic resize to (h, w), antialiased when shrinking, clamped to [0, 1]."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    down = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    out = F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=down)
    return out.clamp(0, 1)
