"""The video report: `video_report.json` and a self-contained `video_report.html`.

The page shows the three quality curves over time (warping error per pair, detail retention
per frame, scorer loss per frame) with chunk seams and scene cuts marked, and a filmstrip of
original | result thumbnails (inline JPEG data URIs) at a few moments, so flicker, smear or a
seam are visible without reading numbers. Nothing is fetched from the network.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..htmlpage import page, polyline
from ..images import atomic_write

WIDTH, HEIGHT, PAD = 760, 190, 46
_CSS = """body{font-family:sans-serif;margin:2em;max-width:900px} th{text-align:left;padding-right:1em}
h3{margin:1.2em 0 0.2em;font-size:1em} .strip{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0} figcaption{font-size:11px;color:#444}"""


@dataclass
class Shot:
    """One filmstrip thumbnail: frame t, why it was kept, the JPEG (original | result)."""

    frame: int
    why: str
    jpeg: bytes


class Filmstrip:
    """Thumbnails at a few moments of a stream, in bounded memory.

    Evenly spaced frames (every `step`-th, the step doubling whenever more than `regular` are
    kept), the first frame after each of the first `seams` seams and cuts, and the frames
    where detail was lowest and where the pair error was highest so far.
    """

    def __init__(self, regular: int = 8, seams: int = 4, height: int = 120) -> None:
        self.regular, self.seams, self.height = regular, seams, height
        self.step = 1
        self.even: dict[int, Shot] = {}
        self.marked: list[Shot] = []
        self.worst: dict[str, tuple[float, Shot]] = {}

    def _thumb(self, original: np.ndarray, result: np.ndarray) -> bytes:
        h, w = original.shape[:2]
        size = (max(1, round(w * self.height / h)), self.height)
        gap = np.full((self.height, 4, 3), 255, np.uint8)
        small = [cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in (original, result)]
        pair = np.concatenate([small[0], gap, small[1]], axis=1)
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(pair, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        return data.tobytes() if ok else b""

    def offer(
        self,
        t: int,
        original: np.ndarray,
        result: np.ndarray,
        *,
        mark: str = "",
        detail: float | None = None,
        pair_error: float | None = None,
    ) -> None:
        """Consider frame t; `mark` ("seam", "cut") keeps it among the first few such frames."""
        if t % self.step == 0:
            self.even[t] = Shot(t, "", self._thumb(original, result))
            while len(self.even) > self.regular:
                self.step *= 2
                self.even = {k: v for k, v in self.even.items() if k % self.step == 0}
        if mark and sum(1 for s in self.marked if s.why == mark) < self.seams:
            self.marked.append(Shot(t, mark, self._thumb(original, result)))
        for key, value, worse in (("least detail", detail, -1), ("largest pair error", pair_error, 1)):
            if value is None or not np.isfinite(value):
                continue
            if key not in self.worst or worse * value > worse * self.worst[key][0]:
                self.worst[key] = (value, Shot(t, key, self._thumb(original, result)))

    def shots(self) -> list[Shot]:
        """All kept thumbnails in frame order, one per frame (the reasons joined)."""
        by_frame: dict[int, Shot] = {}
        for shot in [*self.even.values(), *self.marked, *(s for _, s in self.worst.values())]:
            if shot.frame in by_frame:
                old = by_frame[shot.frame]
                why = ", ".join(w for w in (old.why, shot.why) if w)
                by_frame[shot.frame] = Shot(shot.frame, why, old.jpeg)
            else:
                by_frame[shot.frame] = shot
        return [by_frame[t] for t in sorted(by_frame)]


def svg_chart(
    title: str,
    series: Sequence[tuple[str, Sequence[int], Sequence[float], str]],
    seams: Sequence[int],
    cuts: Sequence[int],
    span: tuple[int, int],
    bar: tuple[float, str] | None = None,
) -> str:
    """A line chart over frame index: `series` of (label, x, y, colour), seams dashed red, cuts
    dotted grey, an optional horizontal `bar` (value, label) such as the 0.9 detail floor."""
    values = [v for _, _, ys, _ in series for v in ys if np.isfinite(v)]
    if not values:
        return f"<h3>{html.escape(title)}</h3><p>not measured</p>"
    marks = [bar[0]] if bar else []
    low = min(0.0, *values, *marks)
    high = max(*values, *marks)
    high = high if high > low else low + 1.0
    first, last = span[0], max(span[1], span[0] + 1)

    def x(t: float) -> float:
        return PAD + (t - first) / (last - first) * (WIDTH - 2 * PAD)

    def y(v: float) -> float:
        return HEIGHT - PAD / 2 - (v - low) / (high - low) * (HEIGHT - PAD)

    parts = [
        f'<line x1="{PAD}" y1="{y(low):.1f}" x2="{WIDTH - PAD}" y2="{y(low):.1f}" stroke="black"/>',
        f'<line x1="{PAD}" y1="{PAD / 2}" x2="{PAD}" y2="{y(low):.1f}" stroke="black"/>',
        f'<text x="{PAD - 4}" y="{PAD / 2 + 4}" font-size="10" text-anchor="end">{high:.3g}</text>',
        f'<text x="{PAD - 4}" y="{y(low):.1f}" font-size="10" text-anchor="end">{low:.3g}</text>',
        f'<text x="{PAD}" y="{HEIGHT - 2}" font-size="10">frame {first}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 2}" font-size="10" text-anchor="end">{last}</text>',
    ]
    for t, colour, dash in [(s, "#d62728", "5,3") for s in seams] + [(c, "#666", "2,2") for c in cuts]:
        if first <= t <= last:
            parts.append(
                f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{PAD / 2}" y2="{y(low):.1f}" '
                f'stroke="{colour}" stroke-dasharray="{dash}"/>'
            )
    if bar is not None:
        parts.append(
            f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y(bar[0]):.1f}" y2="{y(bar[0]):.1f}" '
            f'stroke="#ff7f0e" stroke-dasharray="6,3"/><text x="{WIDTH - PAD + 3}" y="{y(bar[0]) + 3:.1f}" '
            f'font-size="10" fill="#ff7f0e">{html.escape(bar[1])}</text>'
        )
    legend = []
    for i, (label, xs, ys, colour) in enumerate(series):
        points = ((x(t), y(v)) for t, v in zip(xs, ys, strict=True) if np.isfinite(v))
        parts.append(polyline(points, colour, 1.5))
        legend.append(
            f'<text x="{PAD + 8 + 190 * i}" y="{PAD / 2 - 6}" font-size="11" fill="{colour}">{html.escape(label)}</text>'
        )
    return (
        f'<h3>{html.escape(title)}</h3><svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{HEIGHT}">{"".join(parts + legend)}</svg>'
    )


def _warp_series(q: Any) -> list[tuple[str, Sequence[int], Sequence[float], str]]:
    """The stylised video's pair errors, the independent's (when measured) and the input's."""
    series = [("stylised", q.warp_error.frames, q.warp_error.pairs, "#1f77b4")]
    if q.warp_error_reference is not None:
        ref = q.warp_error_reference
        series.append(("independent", ref.frames, ref.pairs, "#9467bd"))
    series.append(("input video", q.warp_error_input.frames, q.warp_error_input.pairs, "#2ca02c"))
    return series


def _charts(q: Any, seams: Sequence[int] | None) -> list[str]:
    """Warping error per pair, detail retention and (when measured) scorer loss per frame."""
    seam_frames = sorted(set(seams or []) | {t + 1 for t in q.seam_pairs})
    span = (0, max(q.frames - 1, 1))
    frames = list(range(q.frames))

    def chart(title: str, series: list, bar: tuple[float, str] | None = None) -> str:
        return svg_chart(title, series, seam_frames, q.cuts, span, bar=bar)

    charts = [
        chart("Warping error per pair (lower = steadier)", _warp_series(q)),
        chart(
            f"Detail retention per frame (vs {q.detail_basis}; lower = smeared)",
            [("stylised", frames, q.detail, "#1f77b4")],
            bar=(0.9, "0.9"),
        ),
    ]
    if q.fidelity_ratio:
        title = "Scorer loss per frame, relative (lower = closer to content and style)"
        charts.append(chart(title, [("stylised", frames, q.fidelity_ratio, "#1f77b4")], bar=(1.15, "1.15")))
    else:
        charts.append("<h3>Scorer loss per frame</h3><p>not measured (no style given)</p>")
    return charts


def _fmt(value: Any, spec: str = ".4g") -> str:
    return "-" if value is None else format(value, spec)


def _mark(ok: bool | None) -> str:
    return {True: "&#10003;", False: "&#10007;", None: "?"}[ok]


def _summary(q: Any) -> str:
    """Each measure against its bar, as a list."""
    s, verdict = q.summary(), q.verdict()
    return (
        f"<ul><li>{_mark(verdict['warp'])} warping error <b>{_fmt(s['warp_error'], '.5f')}</b> "
        f"(input's own {_fmt(s['warp_error_input'], '.5f')}; independent's {_fmt(s['warp_error_reference'], '.5f')}, "
        f"ratio {_fmt(s['warp_ratio'], '.3f')}; bar &le; 0.25)</li>"
        f"<li>{_mark(verdict['detail'])} detail retention min <b>{_fmt(s['detail_min'], '.3f')}</b>, "
        f"mean {_fmt(s['detail_mean'], '.3f')} (vs {html.escape(q.detail_basis)}; bar &ge; 0.9)</li>"
        f"<li>{_mark(verdict['fidelity'])} scorer loss mean {_fmt(s['fidelity_mean'])}, worst frame "
        f"<b>{_fmt(s['fidelity_ratio_max'], '.3f')}</b>x the basis (bar &le; 1.15)</li>"
        + (
            f"<li>worst seam pair {_fmt(s['seam_worst'], '.2f')}x the median pair</li></ul>"
            if s["seam_worst"] is not None
            else "<li>no chunk seams</li></ul>"
        )
    )


def _filmstrip(q: Any) -> str:
    """The kept original | result thumbnails, inline."""
    film = getattr(q, "filmstrip", None) or []
    if not film:
        return ""
    cells = "".join(
        f'<figure><img alt="frame {shot.frame}" src="data:image/jpeg;base64,'
        f'{base64.b64encode(shot.jpeg).decode()}"><figcaption>frame {shot.frame}'
        f"{' (' + html.escape(shot.why) + ')' if shot.why else ''}</figcaption></figure>"
        for shot in film
    )
    return f"<h3>Filmstrip: original | result</h3><div class='strip'>{cells}</div>"


def quality_section(quality: Any, seams: Sequence[int] | None = None) -> str:
    """The three curves and the filmstrip of a `metrics.VideoQuality` as HTML."""
    return _summary(quality) + "".join(_charts(quality, seams)) + _filmstrip(quality)


def write(run_dir: str | os.PathLike, data: dict[str, Any], quality: Any = None) -> tuple[Path, Path]:
    """Write `video_report.json` and `video_report.html` atomically into `run_dir`.

    `data` needs `warp_error` and `warp_error_input` (WarpError dicts), `seams` and `cuts`;
    `quality` (a `metrics.VideoQuality`) adds the three curves and the filmstrip.
    """
    run_dir = Path(run_dir)
    if quality is not None:
        data = {**data, "quality": quality.to_dict()}
    json_path = atomic_write(run_dir / "video_report.json", json.dumps(data, indent=2, default=str).encode())
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in data.items()
        if not isinstance(v, (dict, list))
    )
    if quality is not None:
        body = quality_section(quality, data.get("seams"))
    else:
        we, floor = data["warp_error"], data["warp_error_input"]
        frames = we["frames"] + [max(we["frames"] or [0]) + 1]
        body = f"<p>Warping error of the output: <b>{we['mean']:.5f}</b>; the input's own: {floor['mean']:.5f}.</p>"
        series = [
            ("stylised", we["frames"], we["pairs"], "#1f77b4"),
            ("input video", floor["frames"], floor["pairs"], "#2ca02c"),
        ]
        seams, cuts = data.get("seams", []), data.get("cuts", [])
        body += svg_chart("Warping error per pair", series, seams, cuts, (0, max(frames)))
    text = f"""
<h1>{html.escape(str(data.get("output", "")))}</h1>
<p>Red dashed lines: chunk seams; grey dotted: scene cuts. Warping error (Lai et al. 2018) alone rewards
blur, so detail retention and the scorer's loss are shown beside it: a good result is low on the first and
third and near 1 on the second.</p>
{body}
<table>{rows}</table>"""
    html_path = atomic_write(
        run_dir / "video_report.html", page("stylebatch video report", _CSS, text).encode()
    )
    return json_path, html_path
