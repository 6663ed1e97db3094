"""Colour preservation (Gatys et al., "Controlling Perceptual Factors", 2017)."""

from __future__ import annotations

import torch
from torch import Tensor

# RGB <-> YIQ (NTSC); Y is luminance, I and Q carry the colour.
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.5959, -0.2746, -0.3213], [0.2115, -0.5227, 0.3112]])
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


def _apply(matrix: Tensor, image: Tensor) -> Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(image), image)


def keep_luminance(result: Tensor, content: Tensor) -> Tensor:
    """Luminance-only transfer: the result's luminance with the content's colour."""
    y = _apply(_RGB2YIQ, result)[:, :1]
    iq = _apply(_RGB2YIQ, content)[:, 1:]
    return _apply(_YIQ2RGB, torch.cat([y, iq], 1)).clamp(0, 1)


def _sqrtm(cov: Tensor, inverse: bool = False) -> Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(1e-5)
    power = -0.5 if inverse else 0.5
    return vecs @ torch.diag(vals**power) @ vecs.T


def match_histogram(style: Tensor, content: Tensor) -> Tensor:
    """Recolour the style image so its colour mean and covariance match the content's."""
    s = style[0].reshape(3, -1).double()
    c = content[0].reshape(3, -1).double()
    mu_s, mu_c = s.mean(1, keepdim=True), c.mean(1, keepdim=True)
    cov_s = torch.cov(s) + 1e-5 * torch.eye(3, dtype=s.dtype)
    cov_c = torch.cov(c) + 1e-5 * torch.eye(3, dtype=s.dtype)
    transform = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    out = transform @ (s - mu_s) + mu_c
    return out.reshape_as(style[0]).unsqueeze(0).to(style.dtype).clamp(0, 1)
