"""Every default of stylebatch lives here; pipelines (TOML presets) only override them."""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from typing import Any

import tomllib

from .errors import ConfigError

PAPER_CONTENT_LAYERS = ("relu4_2",)
PAPER_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
MAX_SIZE = 16384  # longest side: WebP's limit, and far beyond what fits in GPU memory
MAX_PIXELS_LIMIT = 1 << 32  # highest max_pixels: Pillow's decoders index pixels with 32 bits


@dataclass
class VideoConfig:
    """Settings of `stylebatch video` (design section 6)."""

    temporal: str = "warped"  # independent | previous | warped
    temporal_weight: float = 50.0  # weight of the temporal loss (Ruder et al.), scale-free units
    temporal_blur: float = 1.0  # sigma (px): the temporal loss pulls only low frequencies; 0 = Ruder's
    temporal_detail: bool = True  # restore the fine texture a sub-pixel warp fades (flow.keep_detail)
    first_frame_steps: int = 300  # steps for the first frame of a shot
    frame_steps: int = 100  # steps for every later frame
    flow_preset: str = "medium"  # OpenCV DIS preset: ultrafast | fast | medium
    cut_threshold: float = 0.2  # mean abs grey difference (0-1) of 64-px thumbnails; a new shot above
    chunk_frames: int = 0  # frames per chunk; 0 = split the clip evenly over the workers
    min_chunk_frames: int = 12  # never split the clip into chunks shorter than this
    # A seam cross-fades two chains' textures; a 4-frame band with no warm-up left seam pairs at
    # 3.7x the median pair and the mean at 1.35x one chain's (benchmarks/RESULTS.md, issue 9).
    overlap: int = 12  # frames a chunk's result is cross-faded into the previous chunk's (the band)
    seam_warmup: int = 4  # frames a chunk runs before its cross-fade band, not shown (its chain settles)
    crf: int = 18  # x264 quality of the final encode
    codec_preset: str = "medium"  # x264 speed preset


@dataclass
class StyleConfig:
    """One complete recipe: what the engine does for one image (design section 1).

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
    normalize: str = "scale_free"  # paper | scale_free: each layer's error relative to its target
    pooling: str = "max"  # max | avg (the paper's choice)
    # optimisation
    optimizer: str = "lbfgs"  # lbfgs | adam
    lr: float = 0.0  # 0 = the optimiser's default (L-BFGS 1.0, Adam 0.02)
    lbfgs_history: int = 50
    average: bool = True  # Adam only: return an exponential moving average of the iterates
    average_decay: float = 0.9
    init: str = "content"  # content | noise | path to an image
    early_stop: float = 0.0  # stop when loss changes by less than this fraction over a window
    early_stop_window: int = 20
    seed: int = 0
    # colour
    color: str = "none"  # none | luminance | histogram
    # runtime (no effect on the result beyond float rounding)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    weights: str = "default"  # default | random | path to a state dict
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16
    channels_last: str = "auto"  # auto (on CUDA) | on | off
    compile: bool = False  # torch.compile the feature extractor
    cuda_graphs: bool = False  # CUDA: torch.compile with CUDA graphs ("reduce-overhead"); ignored off CUDA
    progress_every: int = 10  # read losses back (a host sync) every N steps
    max_pixels: int = 80_000_000  # decompression-bomb limit for inputs
    max_tile_pixels: int = (
        0  # larger scales are optimised in tiles of at most this many pixels; 0 = from free memory
    )
    # output
    format: str = "png"  # png | jpg | webp, when an output name is not given
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


CHOICES = {
    "normalize": ("paper", "scale_free"),
    "pooling": ("max", "avg"),
    "optimizer": ("lbfgs", "adam"),
    "color": ("none", "luminance", "histogram"),
    "precision": ("auto", "fp32", "bf16"),
    "channels_last": ("auto", "on", "off"),
    "format": ("png", "jpg", "jpeg", "webp"),
    "video.temporal": ("independent", "previous", "warped"),
    "video.flow_preset": ("ultrafast", "fast", "medium"),
}


def _float_keys() -> tuple[str, ...]:
    hints = [("", StyleConfig), ("video.", VideoConfig)]
    return tuple(
        f"{prefix}{f.name}"
        for prefix, cls in hints
        for f in dataclasses.fields(cls)
        if typing.get_type_hints(cls)[f.name] is float
    )


def validate(cfg: StyleConfig) -> None:
    """Reject values that are the right type but make no sense."""
    for key, allowed in CHOICES.items():
        value = _get(cfg, key)
        if value not in allowed:
            raise ConfigError(f"{key}={value!r} is not one of {', '.join(allowed)}")
    positive = ("size", "scales", "min_scale_size", "progress_every", "max_pixels")
    for key in positive:
        if _get(cfg, key) < 1:
            raise ConfigError(f"{key} must be at least 1, got {_get(cfg, key)}")
    for key, limit in (("size", MAX_SIZE), ("min_scale_size", MAX_SIZE), ("max_pixels", MAX_PIXELS_LIMIT)):
        if _get(cfg, key) > limit:
            raise ConfigError(f"{key}={_get(cfg, key):,} is over the limit of {limit:,}")
    for key in _FLOAT_KEYS:  # NaN passes every comparison below, so refuse it (and inf) first
        value = _get(cfg, key)
        if not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value}")
        if key in _NON_NEGATIVE and value < 0:
            raise ConfigError(f"{key} must not be negative, got {value}")
    if any(not math.isfinite(w) or w < 0 for w in cfg.style_layer_weights):
        raise ConfigError(
            f"style_layer_weights must be finite and non-negative, got {cfg.style_layer_weights}"
        )
    for key in ("steps", "coarse_steps", "video.first_frame_steps", "video.frame_steps"):
        if _get(cfg, key) < 0:
            raise ConfigError(f"{key} must not be negative, got {_get(cfg, key)}")
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


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


_FLOAT_KEYS = _float_keys()
_NON_NEGATIVE = tuple(k for k in _FLOAT_KEYS if k.endswith(("weight", "lr", "early_stop", "threshold")))


def keys() -> list[str]:
    """Every settable key, dotted for nested sections (`video.overlap`)."""
    out = []
    for f in dataclasses.fields(StyleConfig):
        if f.name == "video":
            out += [f"video.{g.name}" for g in dataclasses.fields(VideoConfig)]
        else:
            out.append(f.name)
    return out


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Convert `value` to the field's declared type, or raise a ConfigError naming the key."""
    origin = typing.get_origin(annotation)
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


_HINTS = {cls: typing.get_type_hints(cls) for cls in (StyleConfig, VideoConfig)}


def apply_overrides(cfg: StyleConfig, overrides: dict[str, Any]) -> StyleConfig:
    """A copy of `cfg` with dotted `key: value` overrides applied, type-checked and validated."""
    top: dict[str, Any] = {}
    video: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "video" and isinstance(value, dict):
            for k, v in value.items():
                video[k] = _check_key(f"video.{k}", v)
            continue
        if key.startswith("video."):
            video[key[6:]] = _check_key(key, value)
        else:
            top[key] = _check_key(key, value)
    new_video = dataclasses.replace(cfg.video, **video)
    return dataclasses.replace(cfg, **top, video=new_video)


def _check_key(key: str, value: Any) -> Any:
    section, _, name = key.rpartition(".")
    cls = VideoConfig if section == "video" else StyleConfig
    hints = _HINTS[cls]
    if section not in ("", "video") or name not in hints or name == "video":
        close = difflib.get_close_matches(key, keys(), n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ConfigError(f"unknown setting {key!r}{hint} (`stylebatch pipelines keys` lists all)")
    return _coerce(key, value, hints[name])


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
        _check_key(key, value)
        out[key] = value
    return out
