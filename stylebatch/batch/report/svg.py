"""Loss curves: total, content and style loss against step as inline SVG with labelled axes."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...htmlpage import polyline

_SERIES = {"total": "#222", "content": "#1f77b4", "style": "#d62728"}  # loss -> colour


def _nice_step(span: float, n: int = 5) -> float:
    raw = (span or 1.0) / n
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e5:
        return f"{v:.4g}"
    mant, exp = f"{v:.0e}".split("e")
    return f"{mant}e{int(exp)}"


def _y_scale(lo_v: float, hi_v: float) -> tuple[bool, list[float], Callable[[float], float]]:
    """(logarithmic?, tick values, value -> 0..1): log when the values span more than 30x."""
    if lo_v > 0 and hi_v / lo_v > 30:
        lo, hi = math.floor(math.log10(lo_v)), math.ceil(math.log10(hi_v))
        hi = hi if hi > lo else lo + 1
        ticks = [10.0**k for k in range(lo, hi + 1)]
        if len(ticks) > 7:
            ticks = ticks[:: math.ceil(len(ticks) / 6)]
        return True, ticks, lambda v: (math.log10(max(v, 10.0**lo)) - lo) / (hi - lo)
    step = _nice_step(hi_v - lo_v if hi_v > lo_v else abs(hi_v) or 1.0)
    lo, hi = math.floor(lo_v / step) * step, math.ceil(hi_v / step) * step
    hi = hi if hi > lo else lo + step
    ticks = [lo + i * step for i in range(round((hi - lo) / step) + 1)]
    return False, ticks, lambda v: (v - lo) / (hi - lo)


def _x_axis(points: list[dict[str, Any]]) -> tuple[float, float, list[float]]:
    """(first, last, ticks) of the step axis; steps count from 0."""
    s0, s1 = min(h["step"] for h in points), max(h["step"] for h in points)
    x0 = min(0.0, s0)
    xstep = _nice_step(s1 - x0 if s1 > x0 else 1.0)
    x1 = max(math.ceil(s1 / xstep) * xstep, x0 + xstep)
    return x0, x1, [x0 + i * xstep for i in range(round((x1 - x0) / xstep) + 1)]


@dataclass
class _Plot:
    """The drawing area: margins for tick labels left and below and the legend on top."""

    width: int
    height: int
    x0: float
    x1: float
    ty: Callable[[float], float]
    ml, mr, mt, mb = 50, 10, 20, 34

    def __post_init__(self) -> None:
        self.pw, self.ph = self.width - self.ml - self.mr, self.height - self.mt - self.mb

    def x(self, s: float) -> float:
        return self.ml + (s - self.x0) / (self.x1 - self.x0) * self.pw

    def y(self, v: float) -> float:
        return self.mt + self.ph - self.ty(v) * self.ph

    def frame(self) -> str:
        w, h, ml, mt = self.width, self.height, self.ml, self.mt
        return (
            f'<svg class="curve" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" role="img" aria-label="loss against step" font-size="10" '
            f'font-family="sans-serif"><rect x="{ml}" y="{mt}" width="{self.pw}" height="{self.ph}" '
            f'fill="#fbfbfb" stroke="#bbb"/>'
        )

    def ticks(self, yticks: list[float], xticks: list[float]) -> list[str]:
        ml, mt, pw, ph = self.ml, self.mt, self.pw, self.ph
        out = []
        for v in yticks:
            y = self.y(v)
            out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>')
            out.append(f'<text x="{ml - 4}" y="{y + 3:.1f}" text-anchor="end" fill="#555">{_fmt(v)}</text>')
        for s in xticks:
            x = self.x(s)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{mt + ph}" y2="{mt + ph + 4}" stroke="#888"/>')
            out.append(
                f'<text x="{x:.1f}" y="{mt + ph + 14}" text-anchor="middle" fill="#555">{_fmt(s)}</text>'
            )
        return out

    def scale_marks(self, points: list[dict[str, Any]]) -> list[str]:
        """Dashed lines where coarse-to-fine moves to the next scale."""
        out = []
        for prev, cur in zip(points, points[1:], strict=False):
            if (
                cur.get("scale") is not None
                and prev.get("scale") is not None
                and cur["scale"] != prev["scale"]
            ):
                x = self.x((prev["step"] + cur["step"]) / 2)
                out.append(
                    f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{self.mt}" y2="{self.mt + self.ph}" stroke="#999" '
                    f'stroke-dasharray="3,3"/><text x="{x + 3:.1f}" y="{self.mt + 10}" fill="#777">'
                    f"scale {int(cur['scale']) + 1}</text>"
                )
        return out

    def curves(self, points: list[dict[str, Any]]) -> list[str]:
        """One line per loss (a dot where it has a single point) and the legend."""
        out = []
        for i, (key, colour) in enumerate(_SERIES.items()):
            pts = [
                (self.x(h["step"]), self.y(float(h[key])))
                for h in points
                if isinstance(h.get(key), (int, float))
            ]
            pts = [(x, y) for x, y in pts if math.isfinite(y)]
            if not pts:
                continue
            out.append(polyline(pts, colour, 1.6, title=key))
            if len(pts) == 1:
                out.append(f'<circle cx="{pts[0][0]:.1f}" cy="{pts[0][1]:.1f}" r="3" fill="{colour}"/>')
            out.append(f'<text x="{self.ml + 4 + 58 * i}" y="13" fill="{colour}">&#9644; {key}</text>')
        return out

    def labels(self, log: bool) -> str:
        return (
            f'<text x="{self.ml + self.pw / 2:.1f}" y="{self.height - 4}" text-anchor="middle" fill="#333">step</text>'
            f'<text transform="translate(11 {self.mt + self.ph / 2:.1f}) rotate(-90)" text-anchor="middle" '
            f'fill="#333">loss{" (log)" if log else ""}</text></svg>'
        )


def loss_svg(history: list[dict[str, float]] | None, width: int = 380, height: int = 200) -> str:
    """Total, content and style loss against step as an inline SVG with labelled axes.

    The y axis is logarithmic when the values span more than a factor of 30, linear otherwise;
    dashed lines mark where coarse-to-fine moves to the next scale.
    """
    points = [h for h in history or [] if "step" in h and any(k in h for k in _SERIES)]
    if not points:
        return '<p class="nocurve">no loss history</p>'
    values = [float(h[k]) for h in points for k in _SERIES if isinstance(h.get(k), (int, float))]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return '<p class="nocurve">no finite losses</p>'
    log, yticks, ty = _y_scale(min(values), max(values))
    x0, x1, xticks = _x_axis(points)
    plot = _Plot(width, height, x0, x1, ty)
    parts = [plot.frame(), *plot.ticks(yticks, xticks), *plot.scale_marks(points), *plot.curves(points)]
    return "".join(parts) + plot.labels(log)
