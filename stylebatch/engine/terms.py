"""The loss protocol: every term of the objective is one class here, registered once.

A term has a `name` (its key in the per-step loss dict, the history and the progress text),
the config key of its weight, and `build(scene)`, which makes the term for one scale of a
run (or None where it does not apply). Two kinds:

- `FeatureTerm`: computed from VGG-19 features (content, style). It also says how to compute
  its exact whole-image value tile by tile and a per-tile surrogate with the exact gradient,
  so the tiled objective (tiling.py) uses the same terms.
- `PixelTerm`: computed from the pixels of the whole image (total variation, temporal).

The objective is the weighted sum of the feature terms, then of the pixel terms, each in
registration order. Adding a loss: one class and one `register(...)` line
(docs/ARCHITECTURE.md); the objective, the loss dict, the CLI's progress text and the
report's parameter list follow.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from ..config import StyleConfig
from .datatypes import Temporal
from .losses import ContentLoss, StyleLoss, TemporalLoss, blend_grams, tv_loss
from .sizes import resize
from .tiles import GramSum, Tile, box, core, flat

Features = Callable[[Tensor], dict[str, Tensor]]


@dataclass
class Scene:
    """What the terms of one scale are built from."""

    cfg: StyleConfig
    size: tuple[int, int]  # (h, w) of this scale
    content: Tensor  # the content image at this size, on the device
    style_grams: list[dict[str, Tensor]]  # Gram targets of each style image, by layer
    style_weights: list[float]
    temporal: Temporal | None  # the video's previous frame (final scale only)
    content_features: Callable[[Sequence[str]], dict[str, Tensor]]  # of the content image


class Term(ABC):
    """One weighted term of the objective; values are per image, shape [B]."""

    name: ClassVar[str]
    weight_key: ClassVar[str]  # the config key of its weight (StyleConfig, or video.*)
    in_progress: ClassVar[bool] = True  # shown in the CLI's progress line
    weight: float

    @classmethod
    @abstractmethod
    def build(cls, scene: Scene) -> Term | None:
        """The term for this scale, or None where it does not apply."""


class PixelTerm(Term):
    """A term of the pixels of the whole image."""

    @abstractmethod
    def __call__(self, x: Tensor) -> Tensor: ...


class FeatureTerm(Term):
    """A term of VGG-19 features. The tiled objective calls `start`, `add` for every tile
    (no gradient), `value`, then `surrogate` for every tile (with gradient)."""

    layers: tuple[str, ...]

    @abstractmethod
    def __call__(self, feats: dict[str, Tensor]) -> Tensor: ...

    @abstractmethod
    def start(self, x: Tensor) -> None: ...

    @abstractmethod
    def add(self, tile: Tile, feats: dict[str, Tensor]) -> None: ...

    @abstractmethod
    def value(self) -> Tensor: ...

    @abstractmethod
    def surrogate(self, total: Tensor, tile: Tile, feats: dict[str, Tensor]) -> Tensor:
        """`total` plus a scalar whose gradient w.r.t. the tile is this tile's share of the
        gradient of weight * value."""


TERMS: list[type[Term]] = []


def register(term: type[Term]) -> type[Term]:
    """Add a term class to every objective built from now on (after those registered before)."""
    TERMS.append(term)
    return term


def weight_keys() -> tuple[str, ...]:
    """The config keys of the registered terms' weights, in registration order."""
    return tuple(term.weight_key for term in TERMS)


def progress_names() -> tuple[str, ...]:
    """Names of the registered terms the progress line shows, in registration order."""
    return tuple(term.name for term in TERMS if term.in_progress)


def weighted_sum(values: dict[str, Tensor], terms: Sequence[FeatureTerm]) -> Tensor:
    """sum of weight * value over `terms`, left to right (the order fixes the float rounding)."""
    total: Tensor | None = None
    for term in terms:
        part = term.weight * values[term.name]
        total = part if total is None else total + part
    assert total is not None, "an objective has at least one feature term"
    return total


def add_pixel_terms(
    values: dict[str, Tensor], total: Tensor, x: Tensor, terms: Sequence[PixelTerm]
) -> dict[str, Tensor]:
    """Add the pixel terms, computed on the whole image `x`, to `values` and to `total`;
    `values["total"]` is the sum."""
    for term in terms:
        values[term.name] = term(x)
        total = total + term.weight * values[term.name]
    values["total"] = total
    return values


class ContentTerm(FeatureTerm):
    """Gatys et al.: the content image's features (losses.ContentLoss), summed over layers."""

    name = "content"
    weight_key = "content_weight"

    def __init__(self, losses: dict[str, ContentLoss], weight: float) -> None:
        self.losses, self.weight, self.layers = losses, weight, tuple(losses)

    @classmethod
    def build(cls, scene: Scene) -> ContentTerm:
        cfg = scene.cfg
        targets = scene.content_features(cfg.content_layers)
        return cls(
            {name: ContentLoss(targets[name], cfg.normalize) for name in cfg.content_layers},
            cfg.content_weight,
        )

    def __call__(self, feats: dict[str, Tensor]) -> Tensor:
        return sum(loss(feats[name]) for name, loss in self.losses.items())

    def start(self, x: Tensor) -> None:
        self.sum = torch.zeros(x.shape[0], device=x.device)

    def _tile(self, tile: Tile, feats: dict[str, Tensor], name: str) -> Tensor:
        return self.losses[name].part(core(name, feats[name], tile), box(name, tile))

    def add(self, tile: Tile, feats: dict[str, Tensor]) -> None:
        for name in self.layers:
            self.sum += self._tile(tile, feats, name)

    def value(self) -> Tensor:
        return self.sum

    def surrogate(self, total: Tensor, tile: Tile, feats: dict[str, Tensor]) -> Tensor:
        for name in self.layers:  # the content loss is a sum over positions: exact per tile
            total = total + self.weight * self._tile(tile, feats, name).sum()
        return total


class StyleTerm(FeatureTerm):
    """Gatys et al.: the styles' blended Gram matrices (losses.StyleLoss), weighted per layer."""

    name = "style"
    weight_key = "style_weight"

    def __init__(self, losses: dict[str, StyleLoss], layer_weights: dict[str, float], weight: float) -> None:
        self.losses, self.layer_weights, self.weight = losses, layer_weights, weight
        self.layers = tuple(losses)

    @classmethod
    def build(cls, scene: Scene) -> StyleTerm:
        cfg = scene.cfg
        losses = {
            name: StyleLoss(
                blend_grams([g[name] for g in scene.style_grams], scene.style_weights), cfg.normalize
            )
            for name in cfg.style_layers
        }
        return cls(losses, dict(zip(cfg.style_layers, cfg.layer_weights, strict=True)), cfg.style_weight)

    def __call__(self, feats: dict[str, Tensor]) -> Tensor:
        return sum(self.layer_weights[name] * loss(feats[name]) for name, loss in self.losses.items())

    def start(self, x: Tensor) -> None:
        self.grams = GramSum(self.layers)
        self.batch, self.device = x.shape[0], x.device

    def add(self, tile: Tile, feats: dict[str, Tensor]) -> None:
        self.grams.add(tile, feats)

    def value(self) -> Tensor:
        """The exact loss of the whole-image Grams; also fixes the surrogate's coefficients
        c = 2 w (G - A) / (D M), whose <c, F_t F_t^T> has the exact gradient per tile."""
        grams, positions = self.grams.grams(), self.grams.positions
        style = torch.zeros(self.batch, device=self.device)
        for name, g in grams.items():
            style += self.layer_weights[name] * self.losses[name].of_gram(g)
        self.coef = {
            name: (
                (2.0 * self.weight * self.layer_weights[name] / positions[name])
                * (g - self.losses[name].target)
                / self.losses[name].denom.view(-1, 1, 1)
            )
            for name, g in grams.items()
        }
        return style

    def surrogate(self, total: Tensor, tile: Tile, feats: dict[str, Tensor]) -> Tensor:
        for name in self.layers:
            f = flat(core(name, feats[name], tile))
            total = total + (torch.bmm(self.coef[name], f) * f).sum()
        return total


class TVTerm(PixelTerm):
    """Total variation (losses.tv_loss); only where tv_weight is set."""

    name = "tv"
    weight_key = "tv_weight"
    in_progress = False

    def __init__(self, weight: float) -> None:
        self.weight = weight

    @classmethod
    def build(cls, scene: Scene) -> TVTerm | None:
        return cls(scene.cfg.tv_weight) if scene.cfg.tv_weight else None

    def __call__(self, x: Tensor) -> Tensor:
        return tv_loss(x)


class TemporalTerm(PixelTerm):
    """Video: pull toward the warped previous frame (losses.TemporalLoss); final scale only."""

    name = "temporal"
    weight_key = "video.temporal_weight"
    in_progress = False

    def __init__(self, loss: TemporalLoss, weight: float) -> None:
        self.loss, self.weight = loss, weight

    @classmethod
    def build(cls, scene: Scene) -> TemporalTerm | None:
        temporal = scene.temporal
        if temporal is None:
            return None
        device = scene.content.device
        warped = resize(temporal.warped.float().to(device), scene.size)
        mask = F.interpolate(temporal.mask.float().to(device), size=scene.size, mode="nearest")
        return cls(TemporalLoss(warped, mask, temporal.blur), temporal.weight)

    def __call__(self, x: Tensor) -> Tensor:
        return self.loss(x)


register(ContentTerm)
register(StyleTerm)
register(TVTerm)
register(TemporalTerm)
