"""A corpus of hostile inputs, generated on the fly (no binary fixtures).

`make_image_corpus(folder)` returns cases: each a file (or a path that must not exist) and
what a run must do with it: fail with a message containing `expect`, or succeed (`expect`
None).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .conftest import synthetic_photo


@dataclass
class Case:
    name: str
    path: Path
    expect: str | None  # a fragment of the failure message, or None when the job must succeed


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge size with a tiny compressed body (a few hundred bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 16, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def _encoded(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def make_image_corpus(folder: Path) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    photo = synthetic_photo(40, 30)
    cases: list[Case] = []

    def add(name: str, data: bytes | Image.Image | None, expect: str | None, **save) -> None:
        path = folder / name
        if isinstance(data, Image.Image):
            data.save(path, **save)
        elif data is not None:
            path.write_bytes(data)
        cases.append(Case(name, path, expect))

    jpeg, png = _encoded(photo, "JPEG"), _encoded(photo, "PNG")
    add("missing.jpg", None, "file not found")
    add("zero.jpg", b"", "empty file")
    add("truncated.jpg", jpeg[: len(jpeg) // 3], "truncated")
    add("truncated.png", png[: len(png) // 2], "truncated")
    add("notes.jpg", b"shopping list: eggs, milk\n", "not an image")
    add("page.png", b"<!doctype html><html><body>404 Not Found</body></html>", "not an image")
    add("bomb.png", bomb_png(60_000, 60_000), "over the limit")
    add("sliver.png", Image.new("RGB", (400, 2), (200, 30, 30)), "too small")
    (folder / "folder.jpg").mkdir(exist_ok=True)
    cases.append(Case("folder.jpg", folder / "folder.jpg", "directory"))
    # awkward but valid: these must succeed
    add("one_pixel.png", Image.new("RGB", (1, 1), (10, 200, 30)), None)
    add("gray.png", photo.convert("L"), None)
    rgba = photo.convert("RGBA")
    rgba.putalpha(128)
    add("rgba.png", rgba, None)
    add("cmyk.jpg", photo.convert("CMYK"), None)
    add("deep16.png", Image.fromarray(np.asarray(photo.convert("L"), np.uint16) * 257), None)
    add("palette.gif", photo.convert("P"), None)
    frames = [synthetic_photo(24, 24, seed=i).convert("P") for i in range(3)]
    add("animated.gif", frames[0], None, save_all=True, append_images=frames[1:])
    exif = Image.Exif()
    exif[0x0112] = 6
    add("rotated.jpg", photo, None, exif=exif)
    add("фото с пробелом.png", photo, None)
    return cases
