"""One fixed fp32 scorer: the paper's losses, so outputs of any implementation or setting compare.

Gatys et al. (2016): content at relu4_2, `L_c = 1/2 sum (F - P)^2`; style at relu1_1 ..
relu5_1, `E_l = 1/(4 N_l^2 M_l^2) sum (G - A)^2` with `G = F F^T`, weights `w_l = 1/5`;
total `alpha L_c + beta L_s` (alpha/beta = 1e-3 by default). Always fp32, eager, NCHW, no
autocast, whatever the engine settings. Every image is resized to one fixed size first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import weights
from ..config import PAPER_CONTENT_LAYERS, PAPER_STYLE_LAYERS
from .vgg import VGGFeatures


def paper_gram(features: Tensor) -> Tensor:
    """G = F F^T per image, not normalised: [B, N, H, W] -> [B, N, N]."""
    b, n, h, w = features.shape
    f = features.double().reshape(b, n, h * w)
    return f @ f.transpose(1, 2)


def paper_content_loss(features: Tensor, target: Tensor) -> Tensor:
    """1/2 sum (F - P)^2 per image."""
    return 0.5 * (features.double() - target.double()).pow(2).flatten(1).sum(1)


def paper_style_layer_loss(features: Tensor, target_gram: Tensor) -> Tensor:
    """E_l = 1/(4 N^2 M^2) sum (G - A)^2 per image, with N channels and M positions."""
    _, n, h, w = features.shape
    m = h * w
    return (paper_gram(features) - target_gram.double()).pow(2).flatten(1).sum(1) / (4.0 * n * n * m * m)


@dataclass
class Score:
    content: float
    style: float
    total: float
    layers: dict[str, float]  # E_l of every style layer (unweighted)


def _fit(image: Tensor, size: tuple[int, int]) -> Tensor:
    image = image.unsqueeze(0) if image.dim() == 3 else image
    image = image.float()
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    down = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    return F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=down).clamp(0, 1)


class Scorer:
    """Paper losses of images against one content and one style image, at a fixed size.

    The style target A is the Gram matrix of the style image resized to the scored size
    (the paper sizes the style image like the output); `weights` names the VGG-19 used.
    """

    def __init__(
        self,
        content: Tensor,
        style: Tensor,
        *,
        weights_spec: str = "default",
        size: tuple[int, int] | None = None,
        content_weight: float = 1.0,
        style_weight: float = 1e3,
        pooling: str = "max",
        device: str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        content = content.unsqueeze(0) if content.dim() == 3 else content
        self.size = tuple(size) if size else tuple(content.shape[-2:])
        self.alpha, self.beta = content_weight, style_weight
        self.style_layers = PAPER_STYLE_LAYERS
        self.content_layer = PAPER_CONTENT_LAYERS[0]
        features = weights.load_features(weights.resolve(weights_spec))
        layers = [self.content_layer, *self.style_layers]
        self.model = VGGFeatures(features, layers, pooling).to(self.device).float()
        with torch.no_grad():
            self.p = self._features(content)[self.content_layer]
            style_feats = self._features(style)
            self.a = {name: paper_gram(style_feats[name]) for name in self.style_layers}

    @torch.no_grad()
    def _features(self, image: Tensor) -> dict[str, Tensor]:
        return self.model(_fit(image, self.size).to(self.device))

    @torch.no_grad()
    def __call__(self, image: Tensor) -> list[Score]:
        """Score each image of `image` ([3,H,W] or [B,3,H,W] in [0,1])."""
        feats = self._features(image)
        content = paper_content_loss(feats[self.content_layer], self.p)
        layers = {name: paper_style_layer_loss(feats[name], self.a[name]) for name in self.style_layers}
        w = 1.0 / len(self.style_layers)
        style = sum(w * v for v in layers.values())
        total = self.alpha * content + self.beta * style
        return [
            Score(
                float(content[i]),
                float(style[i]),
                float(total[i]),
                {name: float(v[i]) for name, v in layers.items()},
            )
            for i in range(total.shape[0])
        ]
