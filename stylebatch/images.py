"""Reading and writing images: EXIF orientation, any mode to RGB, a pixel limit, atomic saves."""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:  # torch loads on first use (the command line starts without it)
    from torch import Tensor

from .errors import InputError, check_input_file

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
_UMASK = os.umask(0)
os.umask(_UMASK)
Image.MAX_IMAGE_PIXELS = None  # our own, configurable check below replaces Pillow's warning


@dataclass
class Loaded:
    image: Image.Image  # RGB
    notes: list[str] = field(default_factory=list)  # things the user should know (first frame...)


def open_image(
    source: str | os.PathLike | bytes, max_pixels: int = 80_000_000, name: str | None = None
) -> Loaded:
    """Decode an image file (or its bytes) to RGB, EXIF rotation applied, or raise InputError."""
    label = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    if not isinstance(source, bytes):
        check_input_file(Path(source), label, "an image")
    elif not source:
        raise InputError(label, "empty file (0 bytes)")
    notes: list[str] = []
    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        width, height = img.size
        if width * height > max_pixels:
            raise InputError(
                label,
                f"{width}x{height} = {width * height:,} pixels is over the limit of {max_pixels:,} "
                "(a decompression bomb or a huge image; raise max_pixels with --set max_pixels=N)",
            )
        if getattr(img, "n_frames", 1) > 1:
            notes.append(f"animated image with {img.n_frames} frames: the first frame is used")
            img.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
        img = ImageOps.exif_transpose(img)
        rgb = to_rgb(img)
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(label, "not an image (the file's contents are no format Pillow reads)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(label, f"corrupt or truncated image ({exc})") from None
    if min(rgb.size) < 1:
        raise InputError(label, f"image has no pixels ({rgb.size[0]}x{rgb.size[1]})")
    return Loaded(rgb, notes)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: 16-bit scaled (not clipped), alpha composited over white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        if img.mode == "F":
            top = max(float(arr.max()), 1.0) if arr.max() > 1 else 1.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode != "RGB":
        return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV
    return img


def pil_to_tensor(img: Image.Image) -> Tensor:
    import torch

    arr = np.asarray(to_rgb(img), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div(255).unsqueeze(0).contiguous()


def tensor_to_pil(image: Tensor) -> Image.Image:
    """[1, 3, H, W] or [3, H, W] in [0, 1] to an RGB Pillow image (rounded, not truncated)."""
    if image.dim() == 4:
        image = image[0]
    arr = image.detach().float().cpu().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(arr, "RGB")


def format_for(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(path, f"unsupported output extension {suffix!r} (use .png, .jpg or .webp)")
    return FORMATS[suffix]


def encode(image: Tensor | Image.Image, fmt: str = "PNG", quality: int = 95) -> bytes:
    """Encode to PNG/JPEG/WEBP bytes (what workers send back)."""
    pil = image if isinstance(image, Image.Image) else tensor_to_pil(image)
    buf = io.BytesIO()
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    pil.save(buf, format=fmt, **options)
    return buf.getvalue()


FILE_MODE = 0o644 & ~_UMASK  # every output and sidecar (mkstemp alone would make them 0600)
TEMP_NAME_CHARS = 40  # of the output's name in its temp file's: the temp name never hits NAME_MAX


def atomic_write(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes to a temp file beside `path`, fsync, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name[:TEMP_NAME_CHARS]}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        os.chmod(tmp, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def sidecar_path(path: str | os.PathLike) -> Path:
    return Path(f"{path}.json")


def save_image(
    image: Tensor | Image.Image | bytes,
    path: str | os.PathLike,
    metadata: dict[str, Any] | None = None,
    quality: int = 95,
) -> Path:
    """Save atomically in the format of the extension; then the sidecar JSON, also atomically."""
    data = image if isinstance(image, bytes) else encode(image, format_for(path), quality)
    text = json.dumps(metadata, indent=2, default=str).encode() if metadata is not None else None
    out = atomic_write(path, data)
    if text is not None:
        try:
            atomic_write(sidecar_path(out), text)
        except BaseException:
            out.unlink(missing_ok=True)  # an output without its sidecar would pass for a finished job
            raise
    return out
