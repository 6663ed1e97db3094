"""Coarse to fine: `stylize_tensors` optimises the image at growing sizes, each scale starting
from the previous one's result (objective.py builds each scale's objective, optimise.py runs it)."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .. import weights
from ..config import StyleConfig, check_style_weights
from ..errors import ConfigError
from . import color, objective, tiles, tiling
from .datatypes import Callback, ScaleDone, ScaleState, StepDone, StepInfo, StyleResult, Temporal
from .losses import gram
from .optimise import Run, Scale, optimise
from .runtime import Autocast, autocast_for, get_extractor, layout, pick_device
from .sizes import fit_size, resize, scale_sizes, style_side
from .terms import Scene
from .vgg import LAYER_INDEX, min_side


def _digest(image: Tensor) -> str:
    return hashlib.blake2b(image.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).hexdigest()


def style_grams(
    model: nn.Module,
    style: Tensor,
    cfg: StyleConfig,
    longest: int,
    autocast: Autocast,
    cache: dict | None = None,
    max_tile_pixels: int = 0,
) -> dict[str, Tensor]:
    """Gram targets of one style image sized for an output whose longest side is `longest`.

    With a `cache` (a worker's dict), each style image is analysed once per size. A style
    image over `max_tile_pixels` is analysed in tiles (same Grams, bounded memory).
    """
    side = style_side(longest, cfg)
    key = None
    if cache is not None:
        key = (_digest(style), side, tuple(cfg.style_layers), cfg.pooling, cfg.weights, cfg.precision)
        if key in cache:
            return cache[key]
    device = next(model.buffers()).device
    image = resize(style.to(device), fit_size(*style.shape[-2:], side))
    plan = tiles.plan(
        *image.shape[-2:], max_tile_pixels or image.shape[-2] * image.shape[-1], *tiles.halo(cfg.style_layers)
    )
    if len(plan) > 1:
        grams = tiling.whole_grams(
            lambda t: model(layout(t, cfg, device)), image, cfg.style_layers, plan, autocast
        )
    else:
        with torch.no_grad(), autocast():
            feats = model(layout(image, cfg, device))
        grams = {name: gram(feats[name]) for name in cfg.style_layers}
    if cache is not None:
        cache[key] = grams
        while len(cache) > 64:
            cache.pop(next(iter(cache)))
    return grams


@dataclass
class _Inputs:
    """The checked inputs of one run, on the device."""

    content: Tensor  # [1, 3, H, W]
    styles: list[Tensor]
    style_weights: list[float]
    init_image: Tensor | None
    temporal: Temporal | None
    cache: dict | None


def _check(
    content: Tensor,
    styles: Sequence[Tensor],
    style_weights: Sequence[float] | None,
    init_image: Tensor | None,
    cfg: StyleConfig,
) -> tuple[Tensor, list[Tensor], list[float]]:
    """(content [1,3,H,W], styles [1,3,h,w], blend weights), or a ConfigError saying what is wrong."""
    if content.dim() == 3:
        content = content.unsqueeze(0)
    if content.shape[0] != 1:
        raise ValueError(f"stylize_tensors takes one content image, got a batch of {content.shape[0]}")
    styles = [s.unsqueeze(0) if s.dim() == 3 else s for s in styles]
    if not styles:
        raise ConfigError("at least one style image is needed")
    style_weights = list(style_weights or [1.0] * len(styles))
    check_style_weights(style_weights)
    if len(style_weights) != len(styles):
        raise ConfigError(f"style weights {style_weights} do not fit {len(styles)} style image(s)")
    if cfg.init not in ("content", "noise") and init_image is None:
        raise ConfigError(f"init={cfg.init!r}: pass the image as init_image (the API loads files)")
    return content, styles, style_weights


def _levels(content: Tensor, cfg: StyleConfig) -> list[int]:
    """Longest side of each scale; levels too small for the deepest VGG layer are skipped, and a
    too-small output is refused."""
    smallest = min_side((*cfg.content_layers, *cfg.style_layers))
    levels = [s for s in scale_sizes(cfg) if min(fit_size(*content.shape[-2:], s)) >= smallest]
    if not levels:
        h, w = fit_size(*content.shape[-2:], cfg.size)
        deepest = max(cfg.style_layers + cfg.content_layers, key=LAYER_INDEX.get)
        raise ConfigError(
            f"output {w}x{h} is too small: VGG-19 up to {deepest} "
            f"needs at least {smallest} px on the short side (raise size, or the image is too elongated)"
        )
    return levels


def _start_image(previous: Tensor | None, inputs: _Inputs, target: Tensor, cfg: StyleConfig) -> Tensor:
    """A scale's first image: the previous scale's result, else the given init image, else
    the content or white noise (the paper's init)."""
    size = tuple(target.shape[-2:])
    if previous is not None:
        return resize(previous, size)
    if inputs.init_image is not None:
        init = inputs.init_image.unsqueeze(0) if inputs.init_image.dim() == 3 else inputs.init_image
        return resize(init.float().to(target.device), size).contiguous()
    if cfg.init == "noise":
        return torch.rand((1, 3, *size), generator=torch.Generator().manual_seed(cfg.seed)).to(target.device)
    return target.clone()


@dataclass
class _Pyramid:
    """One run of `stylize_tensors`: its inputs, model and shared counters."""

    cfg: StyleConfig
    inputs: _Inputs
    model: nn.Module
    autocast: Autocast
    device: torch.device
    levels: list[int]
    plans: list[list[tiles.Tile]]  # the tiles of each scale (one: untiled)
    tile_budget: int
    run: Run
    losses: dict[str, float] = field(default_factory=dict)  # the last scale's final losses

    def features(self, image: Tensor) -> dict[str, Tensor]:
        with self.autocast():
            return self.model(layout(image, self.cfg, self.device))

    def scale(
        self,
        index: int,
        steps: int,
        image: Tensor | None,
        partial: ScaleState | None = None,
        on_step: StepDone | None = None,
    ) -> Tensor:
        """Optimise scale `index` from the previous scale's `image` (or go on from `partial`, a
        state of this scale); returns its result."""
        cfg, inputs, longest = self.cfg, self.inputs, self.levels[index]
        size = fit_size(*inputs.content.shape[-2:], longest)
        target = resize(inputs.content, size)
        x0 = _start_image(image, inputs, target, cfg)
        grams = [
            style_grams(self.model, s, cfg, longest, self.autocast, inputs.cache, self.tile_budget)
            for s in inputs.styles
        ]
        final, plan = index == len(self.levels) - 1, self.plans[index]
        scene = Scene(
            cfg=cfg,
            size=size,
            content=target,
            style_grams=grams,
            style_weights=inputs.style_weights,
            temporal=inputs.temporal if final else None,
            content_features=objective.content_features(self.features, target, plan),
        )
        level_cfg = tiles.level_config(cfg) if len(plan) > 1 else cfg
        before = partial.step if partial is not None else 0
        progress = self._on_tile(index, size, plan, before) if len(plan) > 1 else None
        goal = objective.build(scene, self.features, plan, progress)
        result, self.losses = optimise(
            x0,
            goal,
            Scale(level_cfg, steps, index, len(self.levels), size),
            self.run,
            partial=partial,
            on_step=on_step,
        )
        return result

    def _on_tile(
        self, index: int, size: tuple[int, int], plan: list[tiles.Tile], before: int = 0
    ) -> tiling.Progress:
        """The tiled objective's progress hook: a StepInfo after every tile of a step (`before`:
        this scale's steps done before a resume)."""
        done, run = self.run.done + before, self.run

        def on_tile(calls: int, tile: int, n_tiles: int, losses: dict[str, float]) -> None:
            if run.callback is not None:
                info = StepInfo(
                    done + calls - 1, run.total_steps, index, len(self.levels), size, losses, run.elapsed()
                )
                note = tiles.describe(size, plan, self.tile_budget, self.cfg) if calls == tile == 1 else ""
                run.callback(dataclasses.replace(info, tile=tile, tiles=n_tiles, note=note))

        return on_tile


def stylize_tensors(
    content: Tensor,
    styles: Sequence[Tensor],
    cfg: StyleConfig,
    *,
    style_weights: Sequence[float] | None = None,
    init_image: Tensor | None = None,
    temporal: Temporal | None = None,
    steps: int | None = None,
    callback: Callback | None = None,
    cache: dict | None = None,
    on_scale: ScaleDone | None = None,
    on_step: StepDone | None = None,
    resume: tuple[int, Tensor] | ScaleState | None = None,
) -> StyleResult:
    """Stylise `content` ([3,H,W] or [1,3,H,W] in [0,1]) with `styles` blended by `style_weights`.

    `init_image` (any size) replaces cfg.init; `temporal` adds the video loss at the final
    scale; `steps` overrides cfg.steps for the final scale. Returns the image on the CPU.
    A long job can be resumed: `on_scale` gets each finished scale but the last and `on_step`
    the state inside a scale after every step; `resume` takes either and goes on exactly.
    """
    start = time.perf_counter()
    content, styles, style_weights = _check(content, styles, style_weights, init_image, cfg)
    device = pick_device(cfg.device)
    model = get_extractor(cfg, device)
    content = content.float().to(device)
    if cfg.color == "histogram":
        styles = [color.match_histogram(s.float(), content[:1].cpu()) for s in styles]
    levels = _levels(content, cfg)
    plan = [cfg.coarse_steps] * (len(levels) - 1) + [cfg.steps if steps is None else steps]
    # scales over the tile budget are optimised in tiles (exact whole-image loss; tiling.py)
    budget = tiles.budget(cfg, device, math.prod(fit_size(*content.shape[-2:], levels[-1])))
    margin = tiles.halo((*cfg.content_layers, *cfg.style_layers))
    plans = [tiles.plan(*fit_size(*content.shape[-2:], s), budget, *margin) for s in levels]  # refused early
    inputs = _Inputs(content, styles, style_weights, init_image, temporal, cache)
    image, first, partial = _resumed(resume, len(levels), device)
    run = Run(sum(plan[first:]), start, callback)
    pyramid = _Pyramid(cfg, inputs, model, autocast_for(cfg, device), device, levels, plans, budget, run)
    for index in range(first, len(plan)):
        image = pyramid.scale(index, plan[index], image, partial if index == first else None, on_step)
        if on_scale is not None and index < len(plan) - 1:
            on_scale(index, image.detach())
    assert image is not None
    if cfg.color == "luminance":
        image = color.keep_luminance(image, resize(content, image.shape[-2:]))
    return StyleResult(
        image=image.detach().float().clamp(0, 1).cpu(),
        losses=pyramid.losses,
        history=run.history,
        steps=run.done,
        seconds=time.perf_counter() - start,
        sizes=[fit_size(*content.shape[-2:], s) for s in levels],
        device=str(device),
        weights=weights.resolve(cfg.weights).identity,
        tiling=[
            tiles.describe(fit_size(*content.shape[-2:], s), p, budget, cfg)
            for s, p in zip(levels, plans, strict=True)
            if len(p) > 1
        ],
        resumed_after=first - 1 if first else None,
        resumed_in=(partial.scale, partial.step) if partial is not None else None,
    )


def _resumed(
    resume: tuple[int, Tensor] | ScaleState | None, scales: int, device: torch.device
) -> tuple[Tensor | None, int, ScaleState | None]:
    """(the image to start from, the first scale to run, the state inside it) for a resumed run:
    after a finished scale (scale, image), or inside one (a ScaleState)."""
    if isinstance(resume, ScaleState):
        if 0 <= resume.scale < scales:
            return None, resume.scale, resume
        return None, 0, None
    if resume is None or not 0 <= resume[0] < scales - 1:
        return None, 0, None
    return resume[1].float().to(device), resume[0] + 1, None
