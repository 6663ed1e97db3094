"""Tile geometry for print-size scales: how many tiles, where, with what margin, and which
feature cells each tile's core owns (tiling.py explains why the result is exact)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
from torch import Tensor

from ..config import StyleConfig
from ..errors import ConfigError
from .runtime import use_bf16
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
    per_pixel = BYTES_PER_PIXEL_BF16 if use_bf16(cfg, device) else BYTES_PER_PIXEL_FP32
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


def box(name: str, tile: Tile) -> tuple[slice, slice]:
    """Cells of the whole image's `name` feature map that the tile's core covers (exact
    because cores start on the deepest layer's stride; the image's last cell is floor(H/s))."""
    s = STRIDE[name]
    y0, y1, x0, x1 = tile.core
    return slice(y0 // s, y1 // s), slice(x0 // s, x1 // s)


def core(name: str, feature: Tensor, tile: Tile) -> Tensor:
    """The tile's `name` feature map cut to its core cells."""
    s = STRIDE[name]
    rows, cols = box(name, tile)
    dy, dx = tile.outer[0] // s, tile.outer[2] // s
    return feature[..., rows.start - dy : rows.stop - dy, cols.start - dx : cols.stop - dx]


def flat(feature: Tensor) -> Tensor:
    return feature.float().reshape(feature.shape[0], feature.shape[1], -1)


def level_config(cfg: StyleConfig) -> StyleConfig:
    """Settings for a tiled scale: Adam (L-BFGS's history is 2 x lbfgs_history image-sized
    vectors, ~1.2 KB per pixel at 50: as large as the activations tiling avoids)."""
    if cfg.optimizer == "adam":
        return cfg
    return cfg.replace(optimizer="adam", lr=0.0)


class GramSum:
    """Whole-image Gram matrices (divided by M, as losses.gram) summed over tiles' cores."""

    def __init__(self, layers: tuple[str, ...] | list[str]) -> None:
        self.layers = tuple(layers)
        self.sums: dict[str, Tensor] = {}
        self.positions: dict[str, int] = {}

    def add(self, tile: Tile, feats: dict[str, Tensor]) -> None:
        for name in self.layers:
            f = flat(core(name, feats[name], tile))
            g = torch.bmm(f, f.transpose(1, 2))
            self.sums[name] = g if name not in self.sums else self.sums[name] + g
            self.positions[name] = self.positions.get(name, 0) + f.shape[-1]

    def grams(self) -> dict[str, Tensor]:
        return {name: self.sums[name] / self.positions[name] for name in self.layers}
