"""The Gatys engine: a pure function of tensors and a StyleConfig.

`stylize_tensors(content, styles, cfg)` optimises the pixels of an image (or a batch of
same-size images) so its VGG-19 features keep the content and take the styles' Gram
statistics. No files, no Ray, no CLI here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import weights
from ..config import StyleConfig
from ..errors import ConfigError
from . import color, tiling
from .losses import ContentLoss, StyleLoss, TemporalLoss, add_pixel_terms, blend_grams, gram
from .vgg import LAYER_INDEX, VGGFeatures, min_side


@dataclass
class StepInfo:
    """What a progress callback receives every `progress_every` steps (and at each scale's end)."""

    step: int  # steps done so far, all scales together
    total_steps: int  # planned steps, all scales together
    scale: int  # index of the current scale, 0 = coarsest
    scales: int
    size: tuple[int, int]  # (height, width) being optimised
    losses: dict[str, float]  # total, content, style, tv, temporal (summed over the batch)
    elapsed: float
    # the current result [B, 3, H, W] on the device (the EMA for Adam), not a copy: clone to keep
    image: Tensor | None = None
    per_image: list[float] | None = None  # total loss of each image of the batch
    # a tiled scale also reports after each tile of a step (tile of tiles; image None then)
    tile: int = 0
    tiles: int = 0
    note: str = ""  # on a tiled scale's first report: how it is tiled (for the terminal)


@dataclass
class Temporal:
    """Video: a warped previous stylised frame and its reliability mask (Ruder et al. 2016)."""

    warped: Tensor  # [B, 3, H, W] in [0, 1]
    mask: Tensor  # [B, 1, H, W], 1 = reliable
    weight: float
    blur: float = 0.0  # sigma (px): pull only the low frequencies (losses.TemporalLoss)


@dataclass
class StyleResult:
    image: Tensor  # [B, 3, H, W] in [0, 1], float32, on the CPU
    losses: dict[str, float]  # final losses of the last scale (summed over the batch)
    history: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    sizes: list[tuple[int, int]] = field(default_factory=list)
    device: str = "cpu"
    weights: str = ""
    per_image: list[dict[str, float]] = field(default_factory=list)  # final losses of each image
    per_image_history: list[list[dict[str, float]]] = field(default_factory=list)


Callback = Callable[[StepInfo], None]


# -- device, precision, model ---------------------------------------------------------------


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine")
    return device


def use_bf16(cfg: StyleConfig, device: torch.device) -> bool:
    return cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")


def use_channels_last(cfg: StyleConfig, device: torch.device) -> bool:
    return cfg.channels_last == "on" or (cfg.channels_last == "auto" and device.type == "cuda")


_EXTRACTORS: OrderedDict[tuple, nn.Module] = OrderedDict()


def get_extractor(cfg: StyleConfig, device: torch.device) -> nn.Module:
    """The VGG-19 feature extractor for `cfg` on `device`, built once per process and kept warm."""
    info = weights.resolve(cfg.weights)
    layers = sorted(set(cfg.content_layers) | set(cfg.style_layers))
    cl = use_channels_last(cfg, device)
    mode = compile_mode(cfg, device)
    key = (info.identity, tuple(layers), cfg.pooling, str(device), cl, mode)
    if key not in _EXTRACTORS:
        model = VGGFeatures(weights.load_features(info), layers, cfg.pooling).to(device)
        if cl:
            model = model.to(memory_format=torch.channels_last)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # autotune conv algorithms per input shape
        if mode is not None:
            model = _Compiled(model, mode)
        _EXTRACTORS[key] = model
        while len(_EXTRACTORS) > 4:
            _EXTRACTORS.popitem(last=False)
    _EXTRACTORS.move_to_end(key)
    return _EXTRACTORS[key]


def compile_mode(cfg: StyleConfig, device: torch.device) -> str | None:
    """torch.compile mode for `cfg`: None (eager), "default", or "reduce-overhead" (CUDA graphs)."""
    if cfg.cuda_graphs and device.type == "cuda":
        return "reduce-overhead"
    return "default" if cfg.compile else None


class _Compiled(nn.Module):
    """A torch.compile'd extractor that falls back to eager if compiling fails.

    torch.compile is lazy: a missing toolchain or an unsupported op only shows at the first
    call, so the fallback lives here rather than around torch.compile itself.
    """

    def __init__(self, model: nn.Module, mode: str) -> None:
        super().__init__()
        self.eager = model
        self.mode = mode
        self.compiled = torch.compile(model, mode=mode, dynamic=False)
        self.ok = False  # a compiled call has succeeded
        self.failed: str | None = None

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        if self.failed is not None:
            return self.eager(image)
        if self.mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()  # earlier outputs may be overwritten now
        if self.ok:
            return self.compiled(image)
        try:
            out = self.compiled(image)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # no compiler toolchain, unsupported op: eager is correct
            self.failed = f"{type(exc).__name__}: {exc}"[:300]
            return self.eager(image)
        self.ok = True
        return out


# -- sizes ----------------------------------------------------------------------------------


def fit_size(height: int, width: int, longest: int) -> tuple[int, int]:
    """(h, w) scaled so the longest side is `longest`, aspect kept."""
    scale = longest / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def scale_sizes(cfg: StyleConfig) -> list[int]:
    """Longest side of each coarse-to-fine level, coarsest first, ending at cfg.size."""
    sizes = []
    for i in range(cfg.scales):
        side = round(cfg.size / cfg.scale_ratio ** (cfg.scales - 1 - i))
        if side >= min(cfg.min_scale_size, cfg.size) and side not in sizes:
            sizes.append(side)
    return sizes or [cfg.size]


def resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    down = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    out = F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=down)
    return out.clamp(0, 1)


# -- targets --------------------------------------------------------------------------------


def _digest(image: Tensor) -> str:
    return hashlib.blake2b(image.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).hexdigest()


def style_grams(
    model: nn.Module,
    style: Tensor,
    cfg: StyleConfig,
    longest: int,
    autocast,
    cache: dict | None = None,
    max_tile_pixels: int = 0,
) -> dict[str, Tensor]:
    """Gram targets of one style image sized for an output whose longest side is `longest`.

    With a `cache` (a worker's dict), each style image is analysed once per size. A style
    image over `max_tile_pixels` is analysed in tiles (same Grams, bounded memory).
    """
    side = max(16, round(longest * cfg.style_scale))
    key = None
    if cache is not None:
        key = (_digest(style), side, tuple(cfg.style_layers), cfg.pooling, cfg.weights, cfg.precision)
        if key in cache:
            return cache[key]
    device = next(model.buffers()).device
    image = resize(style.to(device), fit_size(*style.shape[-2:], side))
    tiles = tiling.plan(
        *image.shape[-2:],
        max_tile_pixels or image.shape[-2] * image.shape[-1],
        *tiling.halo(cfg.style_layers),
    )
    if len(tiles) > 1:
        grams = tiling.whole_grams(
            lambda t: model(_layout(t, cfg, device)), image, cfg.style_layers, tiles, autocast
        )
    else:
        with torch.no_grad(), autocast():
            feats = model(_layout(image, cfg, device))
        grams = {name: gram(feats[name]) for name in cfg.style_layers}
    if cache is not None:
        cache[key] = grams
        while len(cache) > 64:
            cache.pop(next(iter(cache)))
    return grams


def _layout(image: Tensor, cfg: StyleConfig, device: torch.device) -> Tensor:
    if use_channels_last(cfg, device):
        return image.contiguous(memory_format=torch.channels_last)
    return image


# -- the optimisation -----------------------------------------------------------------------


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
) -> StyleResult:
    """Stylise `content` ([3,H,W] or [B,3,H,W] in [0,1]) with `styles` blended by `style_weights`.

    `init_image` (any size) replaces cfg.init; `temporal` adds the video loss at the final
    scale; `steps` overrides cfg.steps for the final scale. Returns the image on the CPU.
    """
    start = time.perf_counter()
    if content.dim() == 3:
        content = content.unsqueeze(0)
    styles = [s.unsqueeze(0) if s.dim() == 3 else s for s in styles]
    if not styles:
        raise ConfigError("at least one style image is needed")
    style_weights = list(style_weights or [1.0] * len(styles))
    if (
        len(style_weights) != len(styles)
        or not all(math.isfinite(w) and w >= 0 for w in style_weights)
        or sum(style_weights) <= 0
    ):
        raise ConfigError(f"style weights {style_weights} do not fit {len(styles)} style image(s)")
    if cfg.init not in ("content", "noise") and init_image is None:
        raise ConfigError(f"init={cfg.init!r}: pass the image as init_image (the API loads files)")

    device = pick_device(cfg.device)
    model = get_extractor(cfg, device)
    bf16 = use_bf16(cfg, device)

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()

    content = content.float().to(device)
    if cfg.color == "histogram":
        styles = [color.match_histogram(s.float(), content[:1].cpu()) for s in styles]
    final_steps = cfg.steps if steps is None else steps
    # coarse levels too small for the deepest VGG layer are skipped; a too-small output is refused
    smallest = min_side((*cfg.content_layers, *cfg.style_layers))
    levels = [s for s in scale_sizes(cfg) if min(fit_size(*content.shape[-2:], s)) >= smallest]
    if not levels:
        h, w = fit_size(*content.shape[-2:], cfg.size)
        raise ConfigError(
            f"output {w}x{h} is too small: VGG-19 up to {max(cfg.style_layers + cfg.content_layers, key=LAYER_INDEX.get)} "
            f"needs at least {smallest} px on the short side (raise size, or the image is too elongated)"
        )
    plan = [cfg.coarse_steps] * (len(levels) - 1) + [final_steps]
    total_steps = sum(plan)
    # scales over the tile budget are optimised in tiles (exact whole-image loss; tiling.py)
    tile_budget = tiling.budget(
        cfg, device, content.shape[0] * math.prod(fit_size(*content.shape[-2:], levels[-1]))
    )
    margin = tiling.halo((*cfg.content_layers, *cfg.style_layers))
    tile_plans = [tiling.plan(*fit_size(*content.shape[-2:], s), tile_budget, *margin) for s in levels]

    def features(image: Tensor) -> dict[str, Tensor]:
        with autocast():
            return model(_layout(image, cfg, device))

    image: Tensor | None = None
    history: list[dict[str, float]] = []
    image_history: list[list[dict[str, float]]] = [[] for _ in range(content.shape[0])]
    sizes: list[tuple[int, int]] = []
    done = 0
    last: dict[str, float] = {}
    per_image: list[dict[str, float]] = []
    for index, (longest, n_steps) in enumerate(zip(levels, plan, strict=True)):
        size = fit_size(*content.shape[-2:], longest)
        sizes.append(size)
        target = resize(content, size)
        # init: the previous scale, else the given image, else content or white noise (paper)
        if image is not None:
            x0 = resize(image, size)
        elif init_image is not None:
            init = init_image.unsqueeze(0) if init_image.dim() == 3 else init_image
            x0 = resize(init.float().to(device), size).expand(target.shape[0], -1, -1, -1).contiguous()
        elif cfg.init == "noise":
            x0 = _noise(target.shape[0], size, cfg.seed).to(device)
        else:
            x0 = target.clone()
        per_style = [style_grams(model, s, cfg, longest, autocast, cache, tile_budget) for s in styles]
        style_losses = {
            name: StyleLoss(blend_grams([g[name] for g in per_style], style_weights), cfg.normalize)
            for name in cfg.style_layers
        }
        temporal_loss = None
        if temporal is not None and index == len(levels) - 1:
            temporal_loss = TemporalLoss(
                resize(temporal.warped.float().to(device), size),
                F.interpolate(temporal.mask.float().to(device), size=size, mode="nearest"),
                temporal.blur,
            )
        tiles, level_cfg = tile_plans[index], cfg
        if len(tiles) > 1:
            level_cfg = tiling.level_config(cfg)

            def on_tile(calls, tile, n_tiles, losses, done=done, index=index, size=size, tiles=tiles):
                if callback is not None:
                    elapsed = time.perf_counter() - start
                    info = StepInfo(done + calls - 1, total_steps, index, len(levels), size, losses, elapsed)
                    note = tiling.describe(size, tiles, tile_budget, cfg) if calls == tile == 1 else ""
                    callback(dataclasses.replace(info, tile=tile, tiles=n_tiles, note=note))

            objective = tiling.TiledObjective(
                features, target, style_losses, temporal_loss, temporal.weight if temporal else 0.0,
                cfg, tiles, on_tile,
            )  # fmt: skip
        else:
            with torch.no_grad(), autocast():
                content_feats = model(_layout(target, cfg, device))
            # clone: a CUDA-graph replay overwrites the extractor's output buffers
            content_losses = {
                name: ContentLoss(content_feats[name].clone(), cfg.normalize) for name in cfg.content_layers
            }
            objective = _Objective(
                model, content_losses, style_losses, temporal_loss, cfg, temporal, autocast, device
            )
        image, per_image, done = _optimise(
            x0, objective, level_cfg, n_steps, done, total_steps, index, len(levels), size,
            (history, image_history), callback, start,
        )  # fmt: skip
        last = _sum(per_image)

    assert image is not None
    if cfg.color == "luminance":
        image = color.keep_luminance(image, resize(content, image.shape[-2:]))
    return StyleResult(
        image=image.detach().float().clamp(0, 1).cpu(),
        losses=last,
        history=history,
        steps=done,
        seconds=time.perf_counter() - start,
        sizes=sizes,
        device=str(device),
        weights=weights.resolve(cfg.weights).identity,
        per_image=per_image,
        per_image_history=image_history,
    )


def _noise(batch: int, size: tuple[int, int], seed: int) -> Tensor:
    """White noise (the paper's init), drawn per image from the same seed: every image of a
    batch starts where it would start alone."""
    return torch.cat([torch.rand((1, 3, *size), generator=torch.Generator().manual_seed(seed))] * batch)


class _Objective:
    """alpha * L_content + beta * L_style (+ TV, + temporal), per image."""

    def __init__(self, model, content_losses, style_losses, temporal_loss, cfg, temporal, autocast, device):
        self.model, self.cfg, self.autocast, self.device = model, cfg, autocast, device
        self.content_losses, self.style_losses = content_losses, style_losses
        self.temporal_loss = temporal_loss
        self.temporal_weight = temporal.weight if temporal is not None else 0.0
        self.layer_weights = dict(zip(cfg.style_layers, cfg.layer_weights, strict=True))

    def __call__(self, x: Tensor) -> dict[str, Tensor]:
        cfg = self.cfg
        with self.autocast():
            feats = self.model(_layout(x, cfg, self.device))
        content = sum(loss(feats[name]) for name, loss in self.content_losses.items())
        style = sum(self.layer_weights[name] * loss(feats[name]) for name, loss in self.style_losses.items())
        terms = {"content": content, "style": style}
        total = cfg.content_weight * content + cfg.style_weight * style
        return add_pixel_terms(terms, total, x, cfg.tv_weight, self.temporal_loss, self.temporal_weight)


def _optimise(
    x0, objective, cfg, n_steps, done, total_steps, index, n_scales, size, history, callback, start
):
    """Run one scale's optimisation; returns (image, final per-image losses, steps done overall).

    `history` is (summed entries, per-image entries); both are appended to.

    A batch is optimised as one tensor. With Adam (elementwise) and per-image losses this
    equals separate runs: early stopping is decided per image, and an image that has
    converged keeps the result it had then. L-BFGS shares one history and step size across
    the batch (its inner products couple the images), so a batched L-BFGS run only
    approximates separate runs; `batching.stylize_batch` therefore runs L-BFGS one by one.
    """
    # contiguous: L-BFGS views the gradient flat, and resized inputs can have odd strides
    x = x0.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    terms: dict[str, Tensor] = {}
    if cfg.optimizer == "lbfgs":
        opt = torch.optim.LBFGS(
            [x], lr=cfg.lr or 1.0, max_iter=1, history_size=cfg.lbfgs_history,
            tolerance_grad=0.0, tolerance_change=0.0,
        )  # fmt: skip
    else:
        # fused: one kernel for the whole update on CUDA (no per-step Python loop over ops)
        opt = torch.optim.Adam([x], lr=cfg.lr or 0.02, fused=x.is_cuda or None)
    average = x.detach().clone() if (cfg.optimizer == "adam" and cfg.average) else None

    def closure() -> Tensor:
        nonlocal terms
        opt.zero_grad(set_to_none=True)
        terms = objective(x)
        total = terms["total"].sum()
        total.backward()
        return total

    def current() -> Tensor:
        return average if average is not None else x.detach()

    def read() -> list[dict[str, float]]:
        """Per-image losses (one host sync)."""
        values = {k: v.detach().float().reshape(-1).cpu().tolist() for k, v in terms.items()}
        return [{k: v[i] for k, v in values.items()} for i in range(x.shape[0])]

    batch = x.shape[0]
    checkpoints: list[list[tuple[int, float]]] = [[] for _ in range(batch)]
    final: list[dict[str, float] | None] = [None] * batch  # per image, once converged
    kept: Tensor | None = None  # results of converged images
    per_image: list[dict[str, float]] = []
    steps_run = n_steps
    for step in range(1, n_steps + 1):
        opt.step(closure)
        if average is not None:
            with torch.no_grad():
                x.clamp_(0, 1)  # projected Adam: pixels stay in range
                # iterate averaging (EMA) with a bias correction so early steps are not damped
                decay = min(cfg.average_decay, (1 + step) / (10 + step))
                average.mul_(decay).add_(x.detach(), alpha=1 - decay)
        if step % cfg.progress_every == 0 or step == n_steps:
            per_image = read()  # one host sync per progress_every steps
            for i in range(batch):
                if final[i] is not None:
                    per_image[i] = final[i]
            last = _sum(per_image)
            if not math.isfinite(last["total"]):
                raise FloatingPointError(f"loss became {last['total']} at step {done + step}")
            history[0].append({"step": done + step, "scale": index, **last})
            for i, d in enumerate(per_image):
                history[1][i].append({"step": done + step, "scale": index, **d})
            if callback is not None:
                callback(
                    StepInfo(
                        done + step, total_steps, index, n_scales, size, last,
                        time.perf_counter() - start, current(), [d["total"] for d in per_image],
                    )
                )  # fmt: skip
            if cfg.early_stop > 0:
                for i in range(batch):
                    if final[i] is not None:
                        continue
                    checkpoints[i].append((step, per_image[i]["total"]))
                    if _converged(checkpoints[i], cfg):
                        final[i] = per_image[i]
                        if batch > 1:
                            if kept is None:
                                kept = current().detach().clone()
                            kept[i] = current()[i]
                if all(f is not None for f in final):
                    steps_run = step
                    break
    done += steps_run
    if not per_image:  # zero steps: report the losses of the initial image
        with torch.no_grad():
            terms = objective(x)
        per_image = read()
    image = current()
    if kept is not None:  # converged images keep the result they had when they converged
        mask = torch.tensor([f is not None for f in final], device=image.device).view(-1, 1, 1, 1)
        image = torch.where(mask, kept, image)
    return image.clamp(0, 1), per_image, done


def _sum(per_image: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(sum(d[k] for d in per_image)) for k in per_image[0]}


def _converged(checkpoints: list[tuple[int, float]], cfg: StyleConfig) -> bool:
    """Relative loss change over the last `early_stop_window` steps below `early_stop`."""
    step, loss = checkpoints[-1]
    earlier = [(s, v) for s, v in checkpoints if s <= step - cfg.early_stop_window]
    if not earlier:
        return False
    previous = earlier[-1][1]
    return abs(previous - loss) <= cfg.early_stop * max(abs(loss), 1e-12)
