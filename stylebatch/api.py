"""The Python entry point: `stylize(content, style, pipeline="default", **overrides)`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from torch import Tensor

from . import images, metadata, pipelines
from .checkpoints import CheckpointFile
from .config import StyleConfig
from .engine import Callback, StyleResult, fit_size, style_side, stylize_tensors

ImageLike = str | os.PathLike | Image.Image | Tensor


@dataclass
class Stylized:
    """A finished image with its losses, history and the settings that made it."""

    result: StyleResult
    config: StyleConfig
    inputs: dict[str, Any]

    @property
    def tensor(self) -> Tensor:
        return self.result.image

    @property
    def image(self) -> Image.Image:
        return images.tensor_to_pil(self.result.image)

    @property
    def losses(self) -> dict[str, float]:
        return self.result.losses

    def sidecar(self) -> dict[str, Any]:
        return metadata.sidecar(
            self.config, inputs=self.inputs, result=self.result, weights_identity=self.result.weights
        )

    def save(self, path: str | os.PathLike, sidecar: bool = True) -> Path:
        """Save atomically (format from the extension) with a `PATH.json` sidecar."""
        return images.save_image(
            self.result.image, path, self.sidecar() if sidecar else None, self.config.quality
        )


def as_tensor(source: ImageLike, longest: int | None, max_pixels: int) -> Tensor:
    """A path, Pillow image or tensor as [1, 3, H, W] in [0, 1], shrunk on the CPU to `longest`."""
    if isinstance(source, Tensor):
        tensor = source if source.dim() == 4 else source.unsqueeze(0)
        return tensor.float()
    img = source if isinstance(source, Image.Image) else images.open_image(source, max_pixels).image
    img = images.to_rgb(img)
    if longest and max(img.size) > longest:
        h, w = fit_size(img.height, img.width, longest)
        img = img.resize((w, h), Image.Resampling.LANCZOS)
    return images.pil_to_tensor(img)


def _describe(source: ImageLike) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"<{type(source).__name__}>"


def stylize(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    pipeline: str | StyleConfig = "default",
    *,
    style_weights: Sequence[float] | None = None,
    callback: Callback | None = None,
    cache: dict | None = None,
    checkpoint: CheckpointFile | None = None,
    **overrides: Any,
) -> Stylized:
    """Stylise one image. `style` may be a list (blended by `style_weights`).

    `overrides` are any pipeline settings, e.g. `size=256, steps=100, weights="random"`.
    With a `checkpoint`, a long job keeps each finished scale there (and a long scale's state
    every few minutes) and an interrupted one resumes where it was kept (checkpoints.py).
    """
    cfg = pipelines.load(pipeline, overrides)
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    content_t = as_tensor(content, cfg.size, cfg.max_pixels)
    style_ts = [as_tensor(s, style_side(cfg.size, cfg), cfg.max_pixels) for s in styles]
    init_image = None
    if cfg.init not in ("content", "noise"):
        init_image = as_tensor(cfg.init, cfg.size, cfg.max_pixels)
    kept = checkpoint.load() if checkpoint else None
    result = stylize_tensors(
        content_t,
        style_ts,
        cfg,
        style_weights=style_weights,
        init_image=init_image,
        callback=callback,
        cache=cache,
        on_scale=checkpoint.on_scale if checkpoint else None,
        on_step=checkpoint.on_step if checkpoint else None,
        resume=kept.resume if kept else None,
    )
    if checkpoint:
        checkpoint.clear()
    inputs = {
        "content": _describe(content),
        "styles": [_describe(s) for s in styles],
        "style_weights": list(style_weights) if style_weights else [1.0] * len(styles),
    }
    return Stylized(result, cfg, inputs)
