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

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..config import StyleConfig
from ..errors import ConfigError
from .losses import EPS, add_pixel_terms
from .vgg import LAYER_INDEX, LAYER_NAMES

# Bytes per pixel of one forward + backward to relu5_1 (activations and autograd buffers):
# fp32 measured on the CPU (peak RSS of untiled Adam runs, 128x96 vs 512x384: 3.47 KB per
# pixel; benchmarks/RESULTS.md, "Print size"); bf16 is an estimate (conv outputs halve, Grams
# stay fp32) until benchmarks/gpu_bench.py measures it on a GPU.
BYTES_PER_PIXEL_FP32 = 3500
BYTES_PER_PIXEL_BF16 = 2000
# Image-sized tensors of a tiled Adam scale: image, its gradient (twice while it is added),
# Adam's two moments, the average, the start image, the content image (fp32, 12 bytes each)
# and the content image's relu4_2 features (512 channels at 1/8 x 1/8: 32 bytes).
STATE_BYTES_PER_PIXEL = 8 * 12 + 32
# Auto budget: the share of free memory one tile may use (the rest: model, image-sized
# state, allocator slack, other workers on the node).
AUTO_SHARE_CUDA = 0.6
AUTO_SHARE_CPU = 0.25
AUTO_CPU_CAP = 2048 * 2048  # on a CPU bigger tiles only save halo work, not time

Features = Callable[[Tensor], dict[str, Tensor]]
Progress = Callable[[int, int, int, dict[str, float]], None]  # (step, tile, tiles, losses)


@dataclass(frozen=True)
class Tile:
    """Pixel boxes (y0, y1, x0, x1): `core` is written and scored, `outer` is what VGG sees."""

    core: tuple[int, int, int, int]
    outer: tuple[int, int, int, int]


def _strides() -> dict[str, int]:
    out, pools = {}, 0
    for name in LAYER_NAMES:
        out[name] = 2**pools  # a pool layer's own output is already halved
        if name.startswith("pool"):
            pools += 1
            out[name] = 2**pools
    return out


STRIDE: dict[str, int] = _strides()  # pixels per cell of each VGG-19 layer


def halo(layers: tuple[str, ...] | list[str]) -> tuple[int, int]:
    """(margin, stride): how far zero padding at a tile edge reaches into each of `layers`,
    in pixels, rounded up to the deepest layer's stride (tile corners sit on that grid)."""
    deepest = max(LAYER_INDEX[name] for name in layers)
    wanted = set(layers)
    reach, jump, margin = 0, 1, 0  # reach: contaminated cells at the current resolution
    for name in LAYER_NAMES[: deepest + 1]:
        if name.startswith("conv"):
            reach += 1  # 3x3, padding 1
        elif name.startswith("pool"):
            reach, jump = math.ceil(reach / 2), jump * 2
        if name in wanted:
            margin = max(margin, reach * jump)
    return -(-margin // jump) * jump, jump


def budget(cfg: StyleConfig, device: torch.device, output_pixels: int = 0) -> int:
    """Pixels one tile (halo included) may have: `max_tile_pixels`, or chosen from the memory
    left free once the image-sized state of an `output_pixels` output is counted."""
    if cfg.max_tile_pixels > 0:
        return cfg.max_tile_pixels
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    per_pixel = BYTES_PER_PIXEL_BF16 if bf16 else BYTES_PER_PIXEL_FP32
    state = STATE_BYTES_PER_PIXEL * output_pixels
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return max(1, int((free - state) * AUTO_SHARE_CUDA / per_pixel))
    return max(1, min(AUTO_CPU_CAP, int((_available_ram() - state) * AUTO_SHARE_CPU / per_pixel)))


def _available_ram() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def plan(height: int, width: int, max_pixels: int, margin: int, stride: int) -> list[Tile]:
    """The fewest tiles covering a height x width image whose largest tile, margins included,
    has at most `max_pixels` pixels; one tile (the whole image) when it fits."""
    if height * width <= max_pixels:
        return [Tile((0, height, 0, width), (0, height, 0, width))]
    best: tuple[int, int, int, int] | None = None  # (tiles, pixels of work, step y, step x)
    for step_y, outer_y, n_y in _options(height, margin, stride):
        for step_x, outer_x, n_x in _options(width, margin, stride):
            if outer_y * outer_x <= max_pixels:
                key = (n_y * n_x, outer_y * outer_x * n_y * n_x, step_y, step_x)
                best = key if best is None or key < best else best
                break  # more columns only add tiles
    if best is None:
        smallest = 2 * margin + stride
        raise ConfigError(
            f"max_tile_pixels={max_pixels:,} is too small for these layers: a tile needs a "
            f"{margin} px margin on each side, so about {smallest}x{smallest} = {smallest**2:,} "
            "pixels (raise max_tile_pixels, or 0 for automatic)"
        )
    _, _, step_y, step_x = best
    tiles = []
    for y0 in range(0, height, step_y):
        for x0 in range(0, width, step_x):
            y1, x1 = min(height, y0 + step_y), min(width, x0 + step_x)
            outer = (
                max(0, y0 - margin),
                min(height, y1 + margin),
                max(0, x0 - margin),
                min(width, x1 + margin),
            )
            tiles.append(Tile((y0, y1, x0, x1), outer))
    return tiles


def _options(length: int, margin: int, stride: int) -> list[tuple[int, int, int]]:
    """Ways to cut [0, length) into spans on multiples of `stride`, fewest first:
    (span, largest span with its margins, number of spans)."""
    out, seen = [], set()
    for n in range(1, math.ceil(length / stride) + 1):
        step = math.ceil(math.ceil(length / n) / stride) * stride
        spans = math.ceil(length / step)
        if spans in seen:
            continue
        seen.add(spans)
        out.append((step, min(length, step + margin * min(2, spans - 1)), spans))
    return out


def describe(size: tuple[int, int], tiles: list[Tile], max_pixels: int, cfg: StyleConfig) -> str:
    """One line for the terminal: `size 4096x2731: tiling at 512x512 (63 tiles), ...`."""
    y0, y1, x0, x1 = max(tiles, key=lambda t: (t.outer[1] - t.outer[0]) * (t.outer[3] - t.outer[2])).outer
    how = "automatic" if cfg.max_tile_pixels == 0 else "set"
    optimiser = " (Adam: L-BFGS's history would not fit)" if cfg.optimizer != "adam" else ""
    return (
        f"size {size[1]}x{size[0]}: tiling at {x1 - x0}x{y1 - y0} ({len(tiles)} tiles), "
        f"max_tile_pixels={max_pixels:,} ({how}); exact whole-image losses{optimiser}"
    )


def whole_grams(features: Features, image: Tensor, layers, tiles: list[Tile], autocast) -> dict[str, Tensor]:
    """Gram matrices (divided by M, as losses.gram) of a whole image, summed over tiles' cores."""
    sums: dict[str, Tensor] = {}
    positions: dict[str, int] = {}
    with torch.no_grad():
        for tile in tiles:
            oy0, oy1, ox0, ox1 = tile.outer
            with autocast():
                feats = features(image[..., oy0:oy1, ox0:ox1])
            for name in layers:
                f = _flat(_core(name, feats[name], tile))
                g = torch.bmm(f, f.transpose(1, 2))
                sums[name] = g if name not in sums else sums[name] + g
                positions[name] = positions.get(name, 0) + f.shape[-1]
    return {name: sums[name] / positions[name] for name in layers}


def _box(name: str, tile: Tile) -> tuple[slice, slice]:
    """Cells of the whole image's `name` feature map that the tile's core covers (exact
    because cores start on the deepest layer's stride; the image's last cell is floor(H/s))."""
    s = STRIDE[name]
    y0, y1, x0, x1 = tile.core
    return slice(y0 // s, y1 // s), slice(x0 // s, x1 // s)


def _core(name: str, feature: Tensor, tile: Tile) -> Tensor:
    """The tile's `name` feature map cut to its core cells."""
    s = STRIDE[name]
    rows, cols = _box(name, tile)
    dy, dx = tile.outer[0] // s, tile.outer[2] // s
    return feature[..., rows.start - dy : rows.stop - dy, cols.start - dx : cols.stop - dx]


def _flat(feature: Tensor) -> Tensor:
    return feature.float().reshape(feature.shape[0], feature.shape[1], -1)


def level_config(cfg: StyleConfig) -> StyleConfig:
    """Settings for a tiled scale: Adam (L-BFGS's history is 2 x lbfgs_history image-sized
    vectors, ~1.2 KB per pixel at 50: as large as the activations tiling avoids)."""
    if cfg.optimizer == "adam":
        return cfg
    return cfg.replace(optimizer="adam", lr=0.0)


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
    """The engine's objective (alpha L_content + beta L_style + TV + temporal, per image) for
    an image bigger than one forward pass may be: same values and gradient, bounded memory.

    `features(image)` runs VGG on a tile (autocast and memory layout included);
    `style_losses` are the engine's StyleLoss modules (whole-image targets and denominators);
    `progress(step, tile, tiles, losses)` is told after every tile of the gradient pass.
    """

    def __init__(
        self,
        features: Features,
        content: Tensor,
        style_losses: dict,
        temporal_loss,
        temporal_weight: float,
        cfg: StyleConfig,
        tiles: list[Tile],
        progress: Progress | None = None,
    ) -> None:
        self.features, self.cfg, self.tiles, self.progress = features, cfg, tiles, progress
        self.temporal_loss, self.temporal_weight = temporal_loss, temporal_weight
        self.layer_weights = dict(zip(cfg.style_layers, cfg.layer_weights, strict=True))
        self.style_targets = {name: loss.target for name, loss in style_losses.items()}
        self.style_denoms = {name: loss.denom for name, loss in style_losses.items()}
        self.calls = 0
        # content targets: the content image's features, assembled from the tiles' cores
        self.content_targets: dict[str, Tensor] = {}
        with torch.no_grad():
            for tile, feats in self._sweep(content):
                for name in cfg.content_layers:
                    core = _core(name, feats[name], tile).float()
                    target = self.content_targets.get(name)
                    if target is None:
                        h, w = content.shape[-2] // STRIDE[name], content.shape[-1] // STRIDE[name]
                        target = torch.zeros((*core.shape[:2], h, w), device=core.device)
                        self.content_targets[name] = target
                    target[(..., *_box(name, tile))] = core
        self.content_denoms = {
            name: (t.pow(2).flatten(1).sum(1) + EPS) if cfg.normalize == "scale_free" else torch.full_like(
                t.flatten(1)[:, 0], 2.0
            )
            for name, t in self.content_targets.items()
        }  # fmt: skip

    def _sweep(self, image: Tensor):
        """(tile, its features) for every tile of `image`, one at a time."""
        for tile in self.tiles:
            oy0, oy1, ox0, ox1 = tile.outer
            yield tile, self.features(image[..., oy0:oy1, ox0:ox1])

    # -- the objective ------------------------------------------------------------------------

    def _pass1(self, image: Tensor) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """Whole-image Grams (divided by M), content loss and style loss, per image."""
        sums: dict[str, Tensor] = {}
        positions: dict[str, int] = {}
        content = torch.zeros(image.shape[0], device=image.device)
        with torch.no_grad():
            for tile, feats in self._sweep(image):
                for name in self.cfg.style_layers:
                    f = _flat(_core(name, feats[name], tile))
                    g = torch.bmm(f, f.transpose(1, 2))
                    sums[name] = g if name not in sums else sums[name] + g
                    positions[name] = positions.get(name, 0) + f.shape[-1]
                for name in self.cfg.content_layers:
                    f = _core(name, feats[name], tile).float()
                    p = self.content_targets[name][(..., *_box(name, tile))]
                    content += (f - p).pow(2).flatten(1).sum(1) / self.content_denoms[name]
        grams = {name: sums[name] / positions[name] for name in sums}
        style = torch.zeros_like(content)
        for name, g in grams.items():
            err = (g - self.style_targets[name]).pow(2).flatten(1).sum(1) / self.style_denoms[name]
            style += self.layer_weights[name] * err
        self.positions = positions
        return grams, content, style

    def _pass2(self, image: Tensor, grams: dict[str, Tensor], losses: dict[str, float]) -> Tensor:
        """The exact gradient of alpha L_content + beta L_style, one tile at a time."""
        cfg = self.cfg
        coef = {
            name: (
                (2.0 * cfg.style_weight * self.layer_weights[name] / self.positions[name])
                * (g - self.style_targets[name])
                / self.style_denoms[name].view(-1, 1, 1)
            )
            for name, g in grams.items()
        }
        grad = torch.zeros_like(image)
        for i, tile in enumerate(self.tiles):
            oy0, oy1, ox0, ox1 = tile.outer
            piece = image[..., oy0:oy1, ox0:ox1].detach().clone().requires_grad_(True)
            with torch.enable_grad():
                feats = self.features(piece)
                total = piece.new_zeros(())
                for name in cfg.style_layers:
                    f = _flat(_core(name, feats[name], tile))
                    total = total + (torch.bmm(coef[name], f) * f).sum()
                for name in cfg.content_layers:
                    f = _core(name, feats[name], tile).float()
                    p = self.content_targets[name][(..., *_box(name, tile))]
                    err = (f - p).pow(2).flatten(1).sum(1) / self.content_denoms[name]
                    total = total + cfg.content_weight * err.sum()
                total.backward()
            grad[..., oy0:oy1, ox0:ox1] += piece.grad
            del feats, total, piece
            if self.progress is not None:
                self.progress(self.calls, i + 1, len(self.tiles), losses)
        return grad

    def __call__(self, x: Tensor) -> dict[str, Tensor]:
        cfg = self.cfg
        grams, content, style = self._pass1(x)
        values = cfg.content_weight * content + cfg.style_weight * style
        terms = {"content": content, "style": style}
        if torch.is_grad_enabled() and x.requires_grad:
            self.calls += 1
            summary = {
                "total": float(values.sum()),
                "content": float(content.sum()),
                "style": float(style.sum()),
            }
            total = _Attach.apply(x, values, self._pass2(x, grams, summary))
        else:
            total = values
        return add_pixel_terms(terms, total, x, cfg.tv_weight, self.temporal_loss, self.temporal_weight)
