"""The objective of one scale: the registered terms (terms.py), built and summed."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from . import terms, tiling
from .terms import Features, FeatureTerm, PixelTerm, Scene, add_pixel_terms, weighted_sum
from .tiles import Tile


def build_terms(scene: Scene) -> tuple[list[FeatureTerm], list[PixelTerm]]:
    """The registered terms that apply to `scene`, feature terms first, each in registration order."""
    built = [term for term in (cls.build(scene) for cls in terms.TERMS) if term is not None]
    return (
        [t for t in built if isinstance(t, FeatureTerm)],
        [t for t in built if isinstance(t, PixelTerm)],
    )


class WholeObjective:
    """sum of weight * term over the registered terms, for an image one forward pass holds."""

    def __init__(
        self, features: Features, feature_terms: list[FeatureTerm], pixel_terms: list[PixelTerm]
    ) -> None:
        self.features, self.feature_terms, self.pixel_terms = features, feature_terms, pixel_terms

    def __call__(self, x: Tensor) -> dict[str, Tensor]:
        feats = self.features(x)
        values = {term.name: term(feats) for term in self.feature_terms}
        return add_pixel_terms(values, weighted_sum(values, self.feature_terms), x, self.pixel_terms)


def content_features(features: Features, content: Tensor, tiles: list[Tile]):
    """`Scene.content_features`: one forward pass over the content image, or (tiled) its
    feature maps assembled from the tiles' cores."""

    def compute(layers: Sequence[str]) -> dict[str, Tensor]:
        if len(tiles) > 1:
            return tiling.whole_features(features, content, layers, tiles)
        with torch.no_grad():
            feats = features(content)
        # clone: a CUDA-graph replay overwrites the extractor's output buffers
        return {name: feats[name].clone() for name in layers}

    return compute


def build(
    scene: Scene, features: Features, tiles: list[Tile], progress: tiling.Progress | None = None
) -> WholeObjective | tiling.TiledObjective:
    """The objective of one scale; tiled (same values and gradient) when `tiles` are several."""
    feature_terms, pixel_terms = build_terms(scene)
    if len(tiles) > 1:
        return tiling.TiledObjective(features, feature_terms, pixel_terms, tiles, progress)
    return WholeObjective(features, feature_terms, pixel_terms)
