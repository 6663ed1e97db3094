"""Thumbnails for the report: small upright copies of inputs and outputs, decompression bombs
refused from the header, cached as JPEGs under RUN_DIR/thumbs for report.html."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image, ImageOps

from ... import images, storage
from ...config import StyleConfig
from ...errors import StylebatchError
from .layout import THUMBS_DIR

Size = tuple[int, int]


def open_small(path: str | Path | None, side: int) -> tuple[Image.Image, Size] | None:
    """An RGB copy no larger than `side` (EXIF-rotated) and the file's own size; None if unreadable.

    Decompression bombs are refused from the header, never decoded.
    """
    if not path:
        return None
    try:
        with Image.open(_readable(path)) as img:
            if img.width * img.height > StyleConfig.max_pixels:
                return None
            img.draft("RGB", (side, side))  # JPEG: decode at reduced size
            img = ImageOps.exif_transpose(img)
            size = img.size
            img = images.to_rgb(img)
            img.thumbnail((side, side), Image.Resampling.LANCZOS)
            return img, size
    except Exception:
        return None


def thumb_file(run_dir: Path, path: str | Path | None, side: int) -> tuple[str, Size | None]:
    """(relative URL of a cached JPEG thumbnail under RUN_DIR/thumbs, the file's own size, upright);
    ('', None) when the file is missing or unreadable; no URL if the thumbnail cannot be written."""
    if not path:
        return "", None
    try:
        key = f"{_identity(path)}:{side}"
    except (OSError, StylebatchError):
        return "", None
    rel = f"{THUMBS_DIR}/{hashlib.sha1(key.encode()).hexdigest()[:20]}.jpg"
    target = run_dir / rel
    if target.exists():
        try:
            with Image.open(_readable(path)) as img:  # the header only: the size for the caption
                turned = img.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF: rotated by 90 degrees
                return rel, (img.height, img.width) if turned else img.size
        except Exception:
            return rel, None
    opened = open_small(path, side)
    if opened is None:
        return "", None
    thumb, size = opened
    buf = io.BytesIO()
    thumb.save(buf, "JPEG", quality=85)
    try:
        images.atomic_write(target, buf.getvalue())
    except OSError:
        return "", size  # a full or read-only disk costs the thumbnail, not the report
    return rel, size


_FETCHED: dict[str, tuple[dict, bytes | None]] = {}  # storage objects prefetched for one report


def prefetch(urls: list[str], threads: int = 16) -> None:
    """Fetch the metadata and bytes of the storage objects the report draws, concurrently, instead
    of one request after another while drawing (the contact sheet decodes each of them anyway)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(url: str) -> None:
        try:
            meta = storage.info(url)
            data = storage.read_bytes(url)
        except StylebatchError:
            return
        _FETCHED[url] = (meta, data)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, dict.fromkeys(u for u in urls if storage.is_url(u) and u not in _FETCHED)))


def forget_fetched() -> None:
    _FETCHED.clear()


def _identity(path: str | Path) -> str:
    """What names a file's current contents: path, size, mtime (or a storage object's version)."""
    if storage.is_url(path):
        meta = _FETCHED[str(path)][0] if str(path) in _FETCHED else storage.info(str(path))
        return f"{path}:{storage.version(meta)}"
    st = Path(path).stat()
    return f"{Path(path).resolve()}:{st.st_size}:{st.st_mtime_ns}"


def _readable(path: str | Path) -> str | Path | io.BytesIO:
    """What Image.open takes: the path, or a storage object's bytes."""
    if not storage.is_url(path):
        return path
    fetched = _FETCHED.get(str(path))
    return io.BytesIO(fetched[1] if fetched else storage.read_bytes(str(path)))


def shown_size(size: Size, box: int) -> Size:
    """Display size: fit in box x box (small outputs are shown enlarged, aspect kept)."""
    scale = box / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
