"""Loss terms of Gatys et al. (2016), batch-aware: each returns one value per image, shape [B].

Gram matrices and losses are computed in fp32 even when features come from bf16 autocast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EPS = 1e-8


def gram(features: Tensor) -> Tensor:
    """Gram matrix per image, divided by the number of positions M: [B, C, H, W] -> [B, C, C].

    The paper's G = F F^T is M times this; dividing by M lets targets from a style image of
    another size compare (the paper resized the style image to the output's size instead).
    """
    b, c, h, w = features.shape
    f = features.float().reshape(b, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (h * w)


class ContentLoss(nn.Module):
    """Paper: 1/2 sum (F - P)^2. Scale-free: sum (F - P)^2 / sum P^2 (relative squared error)."""

    def __init__(self, target: Tensor, normalize: str) -> None:
        super().__init__()
        self.register_buffer("target", target.detach().float())
        self.normalize = normalize
        denom = self.target.pow(2).flatten(1).sum(1) + EPS
        self.register_buffer("denom", denom if normalize == "scale_free" else torch.full_like(denom, 2.0))

    def forward(self, features: Tensor) -> Tensor:
        return (features.float() - self.target).pow(2).flatten(1).sum(1) / self.denom

    def part(self, features: Tensor, cells: tuple[slice, slice]) -> Tensor:
        """The loss on the target's `cells` (rows, columns) only: `features` are those cells."""
        return (features.float() - self.target[(..., *cells)]).pow(2).flatten(1).sum(1) / self.denom


class StyleLoss(nn.Module):
    """Paper: E_l = 1/(4 N^2 M^2) sum (G - A)^2. Scale-free: sum (G - A)^2 / sum A^2.

    With G = M * gram(F) the paper's term is sum (gram(F) - A/M)^2 / (4 N^2), which is what
    is computed here, so the paper's value does not depend on how the target was sized.
    """

    def __init__(self, target_gram: Tensor, normalize: str) -> None:
        super().__init__()
        self.register_buffer("target", target_gram.detach().float())
        n = target_gram.shape[-1]
        if normalize == "scale_free":
            denom = self.target.pow(2).flatten(1).sum(1) + EPS
        else:
            denom = torch.full((self.target.shape[0],), 4.0 * n * n, device=self.target.device)
        self.register_buffer("denom", denom)

    def forward(self, features: Tensor) -> Tensor:
        return self.of_gram(gram(features))

    def of_gram(self, gram_matrix: Tensor) -> Tensor:
        """The loss of an image whose Gram matrix (divided by M, as `gram`) is given."""
        return (gram_matrix - self.target).pow(2).flatten(1).sum(1) / self.denom


def tv_loss(image: Tensor) -> Tensor:
    """Total variation: mean squared difference of neighbouring pixels, per image."""
    dh = (image[:, :, 1:, :] - image[:, :, :-1, :]).pow(2).flatten(1).mean(1)
    dw = (image[:, :, :, 1:] - image[:, :, :, :-1]).pow(2).flatten(1).mean(1)
    return dh + dw


class TemporalLoss(nn.Module):
    """Ruder et al. (2016): 1/D sum c * (x - w)^2, with w the warped previous stylised frame
    and c the per-pixel reliability (1 reliable, 0 occluded).

    With `blur` = sigma > 0 (departs from the paper): 1/D sum (G_sigma * (c (x - w)))^2, only
    the low frequencies are pulled. Sub-pixel warping cannot carry pixel-scale texture (a
    half-pixel shift zeroes the Nyquist frequency), so w's finest detail is resampling blur,
    and pulling x toward it compounds frame after frame; the style loss restores it instead.
    """

    def __init__(self, warped: Tensor, mask: Tensor, blur: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("warped", warped.detach().float())
        self.register_buffer("mask", mask.detach().float().expand_as(self.warped).contiguous())
        self.register_buffer("kernel", gaussian_kernel(blur) if blur > 0 else torch.ones(1))
        self.blur = blur

    def forward(self, image: Tensor) -> Tensor:
        diff = self.mask * (image.float() - self.warped)
        if self.blur > 0:
            diff = blur(diff, self.kernel)
        return diff.pow(2).flatten(1).mean(1)


def gaussian_kernel(sigma: float) -> Tensor:
    """A normalised 1-D Gaussian of radius ceil(2 sigma)."""
    radius = max(1, math.ceil(2 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def blur(image: Tensor, kernel: Tensor) -> Tensor:
    """Separable Gaussian blur per channel, zero padding (outside the frame nothing is pulled)."""
    c, r = image.shape[1], kernel.numel() // 2
    kx = kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1).to(image)
    ky = kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1).to(image)
    image = F.conv2d(image, kx, padding=(0, r), groups=c)
    return F.conv2d(image, ky, padding=(r, 0), groups=c)


def blend_grams(grams: Sequence[Tensor], weights: Sequence[float]) -> Tensor:
    """Several styles at once: a weighted mean of their Gram targets (weights sum to 1)."""
    total = float(sum(weights))
    return sum(g * (w / total) for g, w in zip(grams, weights, strict=True))
