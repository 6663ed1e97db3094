"""Every default of stylebatch lives here; pipelines (TOML presets) only override them.

A setting is a field of StyleConfig (or VideoConfig, as `video.<name>`); a `Literal` type declares
its choices, from which CHOICES and validation derive. `is_setting`, `check_setting` and
`get_setting` are the public way to ask about a dotted key.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import tomllib
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError

PAPER_CONTENT_LAYERS = ("relu4_2",)
PAPER_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
MAX_SIZE = 16384  # longest side: WebP's limit, and far beyond what fits in GPU memory
MAX_PIXELS_LIMIT = 1 << 32  # highest max_pixels: Pillow's decoders index pixels with 32 bits
RUN_STATES = "runs"  # under the user's cache: the ledger and report of runs whose --out is a storage URL
CHECKPOINT_AFTER_SECONDS = 60.0  # a job this old keeps each finished scale to resume from
CHECKPOINT_EVERY_SECONDS = 300.0  # and, inside a long scale, its state this often


@dataclass
class VideoConfig:
    """Settings of `stylebatch video`."""

    temporal: Literal["independent", "previous", "warped"] = "warped"
    temporal_weight: float = 50.0  # weight of the temporal loss (Ruder et al.), scale-free units
    temporal_blur: float = 1.0  # sigma (px): the temporal loss pulls only low frequencies; 0 = Ruder's
    temporal_detail: bool = True  # restore the fine texture a sub-pixel warp fades (flow.keep_detail)
    # restart the chain's pixels where the input frames, carried along the same flows, differ
    # from the current frame by more than this (0-1, any channel; 0 = never): flow errors at
    # motion boundaries otherwise drag objects over their background frame after frame (issue 9)
    drift_threshold: float = 0.15  # 0.1 and 0.15 alike on a rendered pan, 0.15 flickers less on a real clip
    first_frame_steps: int = 300  # steps for the first frame of a shot
    frame_steps: int = 100  # steps for every later frame
    flow_preset: Literal["ultrafast", "fast", "medium"] = "medium"  # OpenCV DIS preset
    cut_threshold: float = 0.2  # mean abs grey difference (0-1) of 64-px thumbnails; a new shot above
    chunk_frames: int = 0  # frames per chunk; 0 = split the clip evenly over the workers
    min_chunk_frames: int = 12  # never split the clip into chunks shorter than this
    # A seam cross-fades two chains' textures: a linear ramp over B frames adds (1/B)^2 of their
    # difference to each pair's error. Measured against one unbroken chain's same pairs: B = 4,
    # no warm-up: 3.7x; B = 12: up to 1.24x, mean 1.12x; B = 24: up to 1.09x, mean 0.99x
    # (benchmarks/RESULTS.md, issue 9). Each seam costs overlap + seam_warmup extra frames.
    overlap: int = 24  # frames a chunk's result is cross-faded into the previous chunk's (the band)
    seam_warmup: int = 4  # frames a chunk runs before its cross-fade band, not shown (its chain settles)
    crf: int = 18  # x264 quality of the final encode (4:2:0); 0 = lossless 4:4:4, for editing
    codec_preset: str = "medium"  # x264 speed preset


@dataclass
class StyleConfig:
    """One complete recipe: what the engine does for one image.

    `paper` reproduces Gatys et al. (2016) exactly; the defaults below are the improved recipe.
    """

    name: str = "default"
    description: str = ""
    # sizes and scales
    size: int = 512  # longest side of the output, pixels
    scales: int = 3  # coarse-to-fine levels; 1 = single scale (paper)
    scale_ratio: float = 2.0  # size ratio between consecutive levels
    min_scale_size: int = 64  # coarse levels never go below this
    steps: int = 200  # optimisation steps at the final scale
    coarse_steps: int = 150  # steps at each coarser scale
    style_scale: float = 1.0  # style image size relative to the output size
    # losses
    content_layers: tuple[str, ...] = PAPER_CONTENT_LAYERS
    style_layers: tuple[str, ...] = PAPER_STYLE_LAYERS
    style_layer_weights: tuple[float, ...] = ()  # empty = equal, 1/len(style_layers) (paper)
    content_weight: float = 1.0  # alpha
    style_weight: float = 10.0  # beta (paper normalisation: alpha/beta = 1e-3)
    tv_weight: float = 0.0
    normalize: Literal["paper", "scale_free"] = "scale_free"  # scale_free: each layer's error / its target
    pooling: Literal["max", "avg"] = "max"  # avg is the paper's choice
    # optimisation
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    lr: float = 0.0  # 0 = the optimiser's default (L-BFGS 1.0, Adam 0.02)
    lbfgs_history: int = 50
    average: bool = True  # Adam only: return an exponential moving average of the iterates
    average_decay: float = 0.9
    init: str = "content"  # content | noise | path to an image
    early_stop: float = 0.0  # stop when loss changes by less than this fraction over a window
    early_stop_window: int = 20
    seed: int = 0
    # colour
    color: Literal["none", "luminance", "histogram"] = "none"
    # runtime (no effect on the result beyond float rounding)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    weights: str = "default"  # default | random | path to a state dict
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 on CUDA, fp32 on CPU
    channels_last: Literal["auto", "on", "off"] = "auto"  # auto: on CUDA
    compile: bool = False  # torch.compile the feature extractor
    cuda_graphs: bool = False  # CUDA: torch.compile with CUDA graphs ("reduce-overhead"); ignored off CUDA
    progress_every: int = 10  # read losses back (a host sync) every N steps
    max_pixels: int = 80_000_000  # decompression-bomb limit for inputs
    max_tile_pixels: int = 0  # larger scales in tiles of at most this many pixels; 0 = from free memory
    # output
    format: Literal["png", "jpg", "jpeg", "webp"] = "png"  # when an output name is not given
    quality: int = 95  # JPEG / WebP quality
    video: VideoConfig = field(default_factory=VideoConfig)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def layer_weights(self) -> tuple[float, ...]:
        n = len(self.style_layers)
        return tuple(self.style_layer_weights) or tuple(1.0 / n for _ in range(n))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> StyleConfig:
        return apply_overrides(self, changes)


def _settings(cls: type = StyleConfig, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, declared type) of every setting, in field order; `video` expands in place."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name == "video":
            yield from _settings(VideoConfig, "video.")
        else:
            yield prefix + f.name, hints[f.name]


_TYPES = dict(_settings())
CHOICES = {key: typing.get_args(hint) for key, hint in _TYPES.items() if typing.get_origin(hint) is Literal}
_FLOAT_KEYS = tuple(key for key, hint in _TYPES.items() if hint is float)
_NON_NEGATIVE = tuple(k for k in _FLOAT_KEYS if k.endswith(("weight", "lr", "early_stop", "threshold")))


def validate(cfg: StyleConfig) -> None:
    """Reject values that are the right type but make no sense."""
    for key, allowed in CHOICES.items():
        value = get_setting(cfg, key)
        if value not in allowed:
            raise ConfigError(f"{key}={value!r} is not one of {', '.join(allowed)}")
    positive = ("size", "scales", "min_scale_size", "progress_every", "max_pixels")
    for key in positive:
        if get_setting(cfg, key) < 1:
            raise ConfigError(f"{key} must be at least 1, got {get_setting(cfg, key)}")
    for key, limit in (("size", MAX_SIZE), ("min_scale_size", MAX_SIZE), ("max_pixels", MAX_PIXELS_LIMIT)):
        if get_setting(cfg, key) > limit:
            raise ConfigError(f"{key}={get_setting(cfg, key):,} is over the limit of {limit:,}")
    for key in _FLOAT_KEYS:  # NaN passes every comparison below, so refuse it (and inf) first
        value = get_setting(cfg, key)
        if not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value}")
        if key in _NON_NEGATIVE and value < 0:
            raise ConfigError(f"{key} must not be negative, got {value}")
    if any(not math.isfinite(w) or w < 0 for w in cfg.style_layer_weights):
        raise ConfigError(
            f"style_layer_weights must be finite and non-negative, got {cfg.style_layer_weights}"
        )
    for key in ("steps", "coarse_steps", "video.first_frame_steps", "video.frame_steps"):
        if get_setting(cfg, key) < 0:
            raise ConfigError(f"{key} must not be negative, got {get_setting(cfg, key)}")
    if cfg.max_tile_pixels < 0:
        raise ConfigError(
            f"max_tile_pixels must be 0 (automatic) or a pixel count, got {cfg.max_tile_pixels}"
        )
    if cfg.scale_ratio <= 1.0:
        raise ConfigError(f"scale_ratio must be above 1, got {cfg.scale_ratio}")
    if cfg.style_scale <= 0:
        raise ConfigError(f"style_scale must be positive, got {cfg.style_scale}")
    if not cfg.content_layers and not cfg.style_layers:
        raise ConfigError("at least one content or style layer is needed")
    if cfg.style_layer_weights and len(cfg.style_layer_weights) != len(cfg.style_layers):
        raise ConfigError(
            f"style_layer_weights has {len(cfg.style_layer_weights)} values "
            f"for {len(cfg.style_layers)} style_layers"
        )
    from .engine.vgg import LAYER_NAMES  # late import: vgg imports torch

    for layer in (*cfg.content_layers, *cfg.style_layers):
        if layer not in LAYER_NAMES:
            close = difflib.get_close_matches(layer, LAYER_NAMES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"unknown VGG-19 layer {layer!r}{hint}")
    if cfg.video.temporal_blur < 0:
        raise ConfigError(f"video.temporal_blur must not be negative, got {cfg.video.temporal_blur}")
    if not 0 <= cfg.video.overlap:
        raise ConfigError("video.overlap must not be negative")
    if not 0 <= cfg.video.seam_warmup:
        raise ConfigError("video.seam_warmup must not be negative")


def check_style_weights(values: Any, what: str = "style_weights") -> None:
    """Blend weights of several styles: finite, non-negative and not all zero."""
    values = tuple(values or ())
    if not values or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{what} must be finite numbers, got {', '.join(map(str, values)) or 'nothing'}")
    if any(v < 0 for v in values) or sum(values) <= 0:
        raise ConfigError(f"{what} must be non-negative and not all zero, got {', '.join(map(str, values))}")


def keys() -> list[str]:
    """Every settable key, dotted for nested sections (`video.overlap`)."""
    return list(_TYPES)


def is_setting(key: str) -> bool:
    """Whether `key` (dotted: `video.overlap`) names a setting."""
    return key in _TYPES


def require_setting(key: str) -> None:
    """Raise a ConfigError naming the closest keys unless `key` is a setting."""
    if not is_setting(key):
        close = difflib.get_close_matches(key, keys(), n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ConfigError(f"unknown setting {key!r}{hint} (`stylebatch pipelines keys` lists all)")


def check_setting(key: str, value: Any) -> Any:
    """`value` converted to the type of setting `key`; a ConfigError for an unknown key or a bad type."""
    require_setting(key)
    return _coerce(key, value, _TYPES[key])


def get_setting(cfg: StyleConfig, key: str) -> Any:
    """The value of dotted setting `key` in `cfg`."""
    return functools.reduce(getattr, key.split("."), cfg)


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Convert `value` to the field's declared type, or raise a ConfigError naming the key."""
    origin = typing.get_origin(annotation)
    if origin is Literal:  # the type of its choices; validate() checks the value
        annotation, origin = type(typing.get_args(annotation)[0]), None
    try:
        if annotation is bool:
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            if isinstance(value, bool):
                return value
            raise TypeError
        if annotation is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if annotation is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if annotation is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise TypeError
            return str(value)
        if origin is tuple:
            (inner, _) = typing.get_args(annotation)
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, (list, tuple)):
                raise TypeError
            return tuple(_coerce(key, v, inner) for v in value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    name = getattr(annotation, "__name__", str(annotation))
    raise ConfigError(f"{key}: expected {name}, got {value!r}")


def apply_overrides(cfg: StyleConfig, overrides: dict[str, Any]) -> StyleConfig:
    """A copy of `cfg` with dotted `key: value` overrides applied, type-checked and validated."""
    top: dict[str, Any] = {}
    video: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "video" and isinstance(value, dict):
            for k, v in value.items():
                video[k] = check_setting(f"video.{k}", v)
            continue
        if key.startswith("video."):
            video[key[6:]] = check_setting(key, value)
        else:
            top[key] = check_setting(key, value)
    new_video = dataclasses.replace(cfg.video, **video)
    return dataclasses.replace(cfg, **top, video=new_video)


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """Parse `--set key=value` items; values use TOML syntax, bare words are strings."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        raw = raw.strip()
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        check_setting(key, value)
        out[key] = value
    return out


def user_cache() -> Path:
    """stylebatch's folder in the user's cache (`$XDG_CACHE_HOME/stylebatch`, else `~/.cache/...`)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stylebatch"
