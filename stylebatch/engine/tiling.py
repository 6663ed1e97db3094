"""Tiled optimisation for outputs larger than the device holds (print size).

A scale whose pixel count exceeds the tile budget (`max_tile_pixels`) is optimised in
tiles, but the objective stays the whole image's: every step computes the exact loss and
gradient of the untiled objective, only in pieces, so there is nothing for a tile border
to leave behind.

- Each tile is its core plus a margin (halo) as wide as the padding contamination of the
  deepest VGG layer used (80 px for relu5_1), aligned to that layer's stride, so the
  tile's features on its core equal the whole image's features there bit for bit (up to
  float rounding). Losses are taken on core positions only (the cores partition every
  feature map); the gradient of the whole tile, halo included, is added into the image's
  gradient, which is then exactly the untiled gradient.
- Style: the Gram matrix is the whole image's. Pass 1 runs every tile forward (no graph)
  and sums the tiles' core F F^T into the whole-image Gram G, giving the exact losses;
  pass 2 runs every tile forward and backward with the surrogate <c, F_t F_t^T>,
  c = 2 (G - A) / (D M) held fixed, whose gradient is exactly that of the whole-image
  style loss. Content: targets are the content image's features, computed tile by tile
  with the same halos; the content loss per tile is exact.
- The image, its gradient and the optimiser's state are image-sized (~100 bytes per
  pixel with Adam); only one tile's activations are alive at a time.

Sources: crowsonkb/style_transfer (Caffe) tiles the gradient and rolls the image by a
random offset every step so seams do not accumulate, with per-tile Grams against the
whole targets; jcjohnson/neural-style issue threads and 0000sir/larger-neural-style
stylise a small image first and restyle feathered tiles. Here the halo and the two-pass
Gram make the tiled step equal the untiled one, so no re-cutting is needed (see
benchmarks/RESULTS.md, "Print size").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor

from .runtime import Autocast
from .terms import FeatureTerm, PixelTerm, add_pixel_terms, weighted_sum
from .tiles import STRIDE, GramSum, Tile, box, core

Features = Callable[[Tensor], dict[str, Tensor]]
Progress = Callable[[int, int, int, dict[str, float]], None]  # (step, tile, tiles, losses)


def sweep(features: Features, image: Tensor, tiles: list[Tile]) -> Iterator[tuple[Tile, dict[str, Tensor]]]:
    """(tile, its features) for every tile of `image`, one at a time."""
    for tile in tiles:
        oy0, oy1, ox0, ox1 = tile.outer
        yield tile, features(image[..., oy0:oy1, ox0:ox1])


def whole_grams(
    features: Features, image: Tensor, layers: Sequence[str], tiles: list[Tile], autocast: Autocast
) -> dict[str, Tensor]:
    """Gram matrices (divided by M, as losses.gram) of a whole image, summed over tiles' cores."""

    def autocast_features(piece: Tensor) -> dict[str, Tensor]:
        with autocast():  # the Grams themselves stay fp32
            return features(piece)

    sums = GramSum(layers)
    with torch.no_grad():
        for tile, feats in sweep(autocast_features, image, tiles):
            sums.add(tile, feats)
    return sums.grams()


def whole_features(
    features: Features, image: Tensor, layers: Sequence[str], tiles: list[Tile]
) -> dict[str, Tensor]:
    """The whole image's feature maps of `layers` (fp32), assembled from the tiles' cores."""
    out: dict[str, Tensor] = {}
    with torch.no_grad():
        for tile, feats in sweep(features, image, tiles):
            for name in layers:
                piece = core(name, feats[name], tile).float()
                target = out.get(name)
                if target is None:
                    h, w = image.shape[-2] // STRIDE[name], image.shape[-1] // STRIDE[name]
                    target = torch.zeros((*piece.shape[:2], h, w), device=piece.device)
                    out[name] = target
                target[(..., *box(name, tile))] = piece
    return out


class _Attach(torch.autograd.Function):
    """Per-image values whose gradient w.r.t. the image was already computed tile by tile."""

    @staticmethod
    def forward(ctx, image: Tensor, values: Tensor, grad: Tensor) -> Tensor:  # noqa: ARG004
        ctx.save_for_backward(grad)
        return values.clone()

    @staticmethod
    def backward(ctx, out: Tensor):
        (grad,) = ctx.saved_tensors
        return grad * out.view(-1, 1, 1, 1).to(grad.dtype), None, None


class TiledObjective:
    """The engine's objective (objective.Objective: the same terms, per image) for an image
    bigger than one forward pass may be: same values and gradient, bounded memory.

    `features(image)` runs VGG on a tile (autocast and memory layout included);
    `progress(step, tile, tiles, losses)` is told after every tile of the gradient pass.
    """

    def __init__(
        self,
        features: Features,
        feature_terms: list[FeatureTerm],
        pixel_terms: list[PixelTerm],
        tiles: list[Tile],
        progress: Progress | None = None,
    ) -> None:
        self.features, self.tiles, self.progress = features, tiles, progress
        self.feature_terms, self.pixel_terms = feature_terms, pixel_terms
        self.calls = 0

    def _values(self, image: Tensor) -> dict[str, Tensor]:
        """Pass 1: every feature term's exact whole-image value, per image."""
        for term in self.feature_terms:
            term.start(image)
        with torch.no_grad():
            for tile, feats in sweep(self.features, image, self.tiles):
                for term in self.feature_terms:
                    term.add(tile, feats)
        return {term.name: term.value() for term in self.feature_terms}

    def _gradient(self, image: Tensor, losses: dict[str, float]) -> Tensor:
        """Pass 2: the exact gradient of the weighted feature terms, one tile at a time."""
        grad = torch.zeros_like(image)
        for i, tile in enumerate(self.tiles):
            oy0, oy1, ox0, ox1 = tile.outer
            piece = image[..., oy0:oy1, ox0:ox1].detach().clone().requires_grad_(True)
            with torch.enable_grad():
                feats = self.features(piece)
                total = piece.new_zeros(())
                for term in self.feature_terms:
                    total = term.surrogate(total, tile, feats)
                total.backward()
            grad[..., oy0:oy1, ox0:ox1] += piece.grad
            del feats, total, piece
            if self.progress is not None:
                self.progress(self.calls, i + 1, len(self.tiles), losses)
        return grad

    def __call__(self, x: Tensor) -> dict[str, Tensor]:
        terms = self._values(x)
        values = weighted_sum(terms, self.feature_terms)
        if torch.is_grad_enabled() and x.requires_grad:
            self.calls += 1
            summary = {"total": float(values.sum()), **{k: float(v.sum()) for k, v in terms.items()}}
            total = _Attach.apply(x, values, self._gradient(x, summary))
        else:
            total = values
        return add_pixel_terms(terms, total, x, self.pixel_terms)
