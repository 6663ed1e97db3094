"""VGG-19 feature extractor: torchvision's layers, truncated, frozen, with named outputs."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models import vgg as tv_vgg

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG19_CFG = tv_vgg.cfgs["E"]


def _layer_names() -> list[str]:
    """Names of torchvision's `vgg19().features` modules in order: conv1_1, relu1_1, ..., pool5."""
    names, block, idx = [], 1, 1
    for v in VGG19_CFG:
        if v == "M":
            names.append(f"pool{block}")
            block, idx = block + 1, 1
        else:
            names += [f"conv{block}_{idx}", f"relu{block}_{idx}"]
            idx += 1
    return names


LAYER_NAMES: list[str] = _layer_names()
LAYER_INDEX: dict[str, int] = {name: i for i, name in enumerate(LAYER_NAMES)}


def min_side(layers: list[str] | tuple[str, ...]) -> int:
    """Smallest image side that still gives the deepest of `layers` at least one pixel."""
    deepest = max(LAYER_INDEX[name] for name in layers)
    pools = sum(1 for name in LAYER_NAMES[:deepest] if name.startswith("pool"))
    return 2**pools


def build_features() -> nn.Sequential:
    """An uninitialised copy of torchvision's VGG-19 `features` (no classifier)."""
    return tv_vgg.make_layers(VGG19_CFG, batch_norm=False)


class VGGFeatures(nn.Module):
    """Frozen VGG-19 run only as deep as the deepest requested layer.

    Takes RGB images in [0, 1]; ImageNet normalisation happens inside. Returns a dict of
    the requested layers' outputs by name (`conv4_2` before its ReLU, `relu4_2` after).
    """

    def __init__(self, features: nn.Sequential, layers: list[str], pooling: str = "max") -> None:
        super().__init__()
        unknown = [name for name in layers if name not in LAYER_INDEX]
        if unknown:
            raise ValueError(f"unknown VGG-19 layers: {unknown}")
        self.layers = sorted(set(layers), key=LAYER_INDEX.__getitem__)
        last = LAYER_INDEX[self.layers[-1]]
        modules = []
        for module in list(features)[: last + 1]:
            if isinstance(module, nn.ReLU):
                module = nn.ReLU(inplace=False)  # keep pre-ReLU outputs intact
            elif isinstance(module, nn.MaxPool2d) and pooling == "avg":
                module = nn.AvgPool2d(2, 2)  # the paper's choice
            modules.append(module)
        self.net = nn.Sequential(*modules)
        self.wanted = {LAYER_INDEX[name]: name for name in self.layers}
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        x = (image - self.mean) / self.std
        out = {}
        for i, module in enumerate(self.net):
            x = module(x)
            if i in self.wanted:
                out[self.wanted[i]] = x
        return out
