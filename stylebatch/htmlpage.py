"""HTML pieces both reports use (a run's report.html, a video's video_report.html): the page
shell and an SVG polyline. Pages are self-contained: nothing is fetched from the network."""

from __future__ import annotations

import html
from collections.abc import Iterable


def page(title: str, css: str, body: str) -> str:
    """A whole HTML page: `title` escaped, `css` inline, `body` (already HTML) as given."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{css}</style></head>\n<body>{body}</body></html>\n"
    )


def polyline(points: Iterable[tuple[float, float]], colour: str, width: float, title: str = "") -> str:
    """An unfilled SVG polyline through `points` (pixels, one decimal), with an optional tooltip."""
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    line = f'<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{coords}"'
    return f"{line}><title>{html.escape(title)}</title></polyline>" if title else f"{line}/>"
