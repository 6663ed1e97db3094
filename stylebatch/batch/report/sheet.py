"""contact_sheet.jpg: one labelled row per job, content | style | result, failures first."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from ... import images
from . import layout
from .gather import RunData, job_name
from .layout import CSV_NAME, HTML_NAME, SHEET_BAND, SHEET_HEAD, SHEET_NAME, SHEET_PAD, SHEET_RESULT, THUMB
from .thumbs import Size, open_small

_WIDTHS = (THUMB, THUMB, SHEET_RESULT)  # the three columns
_XS = [SHEET_PAD + sum(_WIDTHS[:i]) + i * SHEET_PAD for i in range(3)]
_WIDTH = _XS[2] + SHEET_RESULT + SHEET_PAD
Tile = tuple[Image.Image, Size] | None


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType: scalable
    except (TypeError, OSError):
        return ImageFont.load_default()


def _fit(img: Image.Image, w: int, h: int) -> Image.Image:
    """Scaled (up or down, aspect kept) to fill a w x h box."""
    scale = min(w / img.width, h / img.height)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img if size == img.size else img.resize(size, Image.Resampling.LANCZOS)


def _clip(text: str, width: int, font: ImageFont.ImageFont) -> str:
    while text and font.getlength(text) > width:
        text = text[:-4] + "..."
    return text


def _sheet_jobs(data: RunData) -> list[dict[str, Any]]:
    failed = [j for j in data.failed if j["kind"] != "video"][: layout.SHEET_MAX_FAILED]
    done = [j for j in data.done if j["kind"] == "image"]
    return failed + done[: layout.SHEET_MAX_ROWS - len(failed)]


def _tiles(outputs: Path, job: dict[str, Any]) -> tuple[list[Tile], int]:
    """A job's three images (None where unreadable) and its row's height."""
    result = outputs / job["output"] if job["status"] == "done" and job["output"] else None
    tiles = [
        open_small(job["content"], 2 * SHEET_RESULT),
        open_small((job["styles"] or [None])[0], 2 * THUMB),
        open_small(result, 2 * SHEET_RESULT),
    ]
    if result is not None:  # the result fills its cell: its aspect sets the row's height
        w, h = (tiles[2] or tiles[0] or (None, (4, 3)))[1]
        return tiles, max(THUMB // 2, min(SHEET_RESULT, round(SHEET_RESULT * h / w)))
    return tiles, THUMB if job["content"] else 64  # a failure: room for the inputs and the message


def _draw_row(sheet: Image.Image, job: dict[str, Any], tiles: list[Tile], h: int, y: int) -> int:
    """A job's name band and its three cells from height `y`; returns the next row's `y`."""
    draw, font = ImageDraw.Draw(sheet), _font(13)
    failed = job["status"] != "done"
    styles = job["styles"] or []
    blend = f"  (style: {' + '.join(Path(x).name for x in styles)})" if len(styles) > 1 else ""
    name = job_name(job) + blend + ("  FAILED" if failed else "")
    colour = (170, 0, 0) if failed else (0, 0, 0)
    draw.text((SHEET_PAD, y + 3), _clip(name, _WIDTH - 2 * SHEET_PAD, font), fill=colour, font=font)
    y += SHEET_BAND
    for k, (x, w) in enumerate(zip(_XS, _WIDTHS, strict=True)):
        draw.rectangle((x, y, x + w - 1, y + h - 1), fill=(240, 240, 240))
        tile = tiles[k]
        if tile is not None:
            img = _fit(tile[0], w, h)
            sheet.paste(img, (x + (w - img.width) // 2, y + (h - img.height) // 2))
        elif k < 2 and (job["content"] if k == 0 else job["styles"]):
            draw.text((x + 6, y + h // 2), "unreadable", fill=(160, 0, 0), font=font)
    if failed:
        lines = textwrap.wrap(job["error"] or "failed", width=max(20, SHEET_RESULT // 7))[: h // 16]
        draw.multiline_text((_XS[2] + 6, y + 6), "\n".join(lines), fill=(170, 0, 0), font=font, spacing=3)
    return y + h + SHEET_PAD


def contact_sheet(data: RunData) -> Path | None:
    """contact_sheet.jpg: column headers, then per job its name and content | style | result, the
    result filling its cell; failures first, with their message in the result's place."""
    rows = _sheet_jobs(data)
    if not rows:
        return None
    laid = [(job, *_tiles(data.outputs, job)) for job in rows]
    finished = data.info["failed"] + data.info["done"]
    more = max(0, finished - len(rows))
    height = SHEET_HEAD + sum(SHEET_BAND + h + SHEET_PAD for _, _, h in laid) + (SHEET_BAND if more else 0)
    sheet = Image.new("RGB", (_WIDTH, height + SHEET_PAD), "white")
    draw, font, bold = ImageDraw.Draw(sheet), _font(13), _font(15)
    title = f"{data.run_dir.resolve().name}: {data.info['done']} done, {data.info['failed']} failed"
    draw.text((SHEET_PAD, 6), title, fill=(0, 0, 0), font=bold)
    for x, w, label in zip(_XS, _WIDTHS, ("content", "style", "result"), strict=True):
        draw.text((x + w / 2, SHEET_HEAD - 6), label, fill=(90, 90, 90), font=bold, anchor="ms")
    y = SHEET_HEAD
    for job, tiles, h in laid:
        y = _draw_row(sheet, job, tiles, h, y)
    if more:
        text = f"... and {more} more of {finished} finished jobs: see {HTML_NAME} and {CSV_NAME}"
        draw.text((SHEET_PAD, y), text, fill=(90, 90, 90), font=font)
    buf = io.BytesIO()
    sheet.save(buf, "JPEG", quality=88)
    return images.atomic_write(data.run_dir / SHEET_NAME, buf.getvalue())
