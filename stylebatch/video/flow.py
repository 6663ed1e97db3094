"""Optical flow (OpenCV DIS), the reliability mask of Ruder et al. (2016), warping.

Convention: `flow(a, b)` gives w with a(x) ~ b(x + w(x)), so `warp(b, w)` aligns b to a.
For frame t of a video, w = flow(frame_t, frame_t-1) warps the previous stylised frame onto t.
"""

from __future__ import annotations

import cv2
import numpy as np

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def flow(a: np.ndarray, b: np.ndarray, preset: str = "medium") -> np.ndarray:
    """Dense DIS flow from frame a to frame b (RGB or gray uint8) as [H, W, 2] float32 (dx, dy)."""
    a = gray(a) if a.ndim == 3 else a
    b = gray(b) if b.ndim == 3 else b
    dis = cv2.DISOpticalFlow_create(PRESETS[preset])
    return dis.calc(a, b, None)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def warp(image: np.ndarray, w: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """`image` sampled at x + w(x), bilinear by default (cv2.remap); outside the frame the border
    repeats."""
    h, wd = w.shape[:2]
    xs, ys = _grid(h, wd)
    map_x = xs + w[..., 0]
    map_y = ys + w[..., 1]
    return cv2.remap(image, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)


def carry(stylised: np.ndarray, w: np.ndarray, fill: np.ndarray | None = None) -> np.ndarray:
    """The previous stylised frame (float RGB in [0, 1]) moved onto the current one: Lanczos-4,
    clipped to [0, 1]. A chain resamples every frame, and bilinear sampling at a fractional
    offset f keeps only about |1 - 2f| of the finest texture each time (issue 9); Lanczos
    keeps about 0.65 of it after a dozen frames where bilinear keeps 0.1 (RESULTS.md).

    Pixels whose source x + w lies outside the previous frame (scenery entering the view)
    take `fill` (the current frame, float RGB) where given: there is nothing to carry, and a
    border-repeating warp fills them with streaks that the chain then drags across the frame
    as the camera pans, until the whole picture is streaks (issue 9, RESULTS.md)."""
    carried = np.clip(warp(stylised, w, cv2.INTER_LANCZOS4), 0.0, 1.0)
    if fill is not None:
        entering = outside(w)
        carried[entering] = fill[entering]
    return carried


def drifted(followed: np.ndarray, current: np.ndarray, threshold: float) -> np.ndarray:
    """True where the input frames carried along the chain (`followed`, float RGB) differ from
    the current frame by more than `threshold` in any channel: the chain's flows have dragged
    other scenery there, so its stylised pixels are wrong too (0: never).

    Each frame's reliability check sees one step's flow only; along a chain, small errors at
    motion boundaries repeat frame after frame and drag an object's texture over its
    background, a smear that no single step flags (issue 9, RESULTS.md)."""
    if threshold <= 0:
        return np.zeros(current.shape[:2], bool)
    return np.abs(followed - current).max(axis=-1) > threshold


def outside(w: np.ndarray) -> np.ndarray:
    """True where x + w(x) leaves the frame: the previous frame holds nothing for that pixel."""
    h, wd = w.shape[:2]
    xs, ys = _grid(h, wd)
    tx, ty = xs + w[..., 0], ys + w[..., 1]
    return (tx < 0) | (tx > wd - 1) | (ty < 0) | (ty > h - 1)


def _detail(rgb: np.ndarray) -> float:
    luma = rgb @ np.float32([0.299, 0.587, 0.114])
    return float(np.abs(cv2.Laplacian(luma, cv2.CV_32F)).mean())


def keep_detail(
    warped: np.ndarray, source: np.ndarray, sigma: float = 0.5, max_gain: float = 4.0
) -> np.ndarray:
    """`warped` (a resample of `source`, float RGB in [0, 1]) with its high band (`warped`
    minus a Gaussian blur of it) amplified until its detail, mean |Laplacian| of luminance,
    matches `source`'s (bisection on the gain, at most `max_gain`).

    Resampling at a fractional offset fades the finest texture, most at the Nyquist frequency;
    chained frame after frame that is a smear (issue 9). The texture is still in place, only
    fainter, so its amplitude is given back here. The band (sigma 0.5 px) is the finest
    texture, which is what resampling fades.
    """
    want = _detail(source)
    band = warped - cv2.GaussianBlur(warped, (0, 0), sigma)
    low, high_gain = 0.0, max_gain
    if _detail(warped) >= want:
        return warped
    for _ in range(12):
        gain = (low + high_gain) / 2
        if _detail(np.clip(warped + gain * band, 0, 1)) < want:
            low = gain
        else:
            high_gain = gain
    return np.clip(warped + low * band, 0, 1)


def reliability(w: np.ndarray, w_back: np.ndarray) -> np.ndarray:
    """1 where the flow w can be trusted, 0 where not (Ruder et al. 2016).

    Unreliable: forward-backward inconsistent (disocclusion)
        |w + w_back(x+w)|^2 > 0.01 (|w|^2 + |w_back(x+w)|^2) + 0.5,
    a motion boundary |grad u|^2 + |grad v|^2 > 0.01 |w|^2 + 0.002, or x + w outside the frame.
    """
    back = warp(w_back, w)  # w_back sampled at x + w(x)
    total = w + back
    inconsistent = (total**2).sum(-1) > 0.01 * ((w**2).sum(-1) + (back**2).sum(-1)) + 0.5
    # central differences, as np.gradient; Ruder's reference code uses the same 0.01/0.002 constants
    du_y, du_x = np.gradient(w[..., 0])
    dv_y, dv_x = np.gradient(w[..., 1])
    boundary = du_x**2 + du_y**2 + dv_x**2 + dv_y**2 > 0.01 * (w**2).sum(-1) + 0.002
    return (~(inconsistent | boundary | outside(w))).astype(np.float32)


def both(a: np.ndarray, b: np.ndarray, preset: str = "medium") -> tuple[np.ndarray, np.ndarray]:
    """Flows a -> b and b -> a (RGB or gray uint8)."""
    a = gray(a) if a.ndim == 3 else a
    b = gray(b) if b.ndim == 3 else b
    return flow(a, b, preset), flow(b, a, preset)


def flows_and_mask(
    current: np.ndarray, previous: np.ndarray, preset: str = "medium"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For frame t and frame t-1 (original RGB): (w, mask, w_back) with w = flow t -> t-1, its
    reliability mask, and w_back = flow t-1 -> t. The quality meter takes (w_back, w)."""
    w, w_back = both(current, previous, preset)
    return w, reliability(w, w_back), w_back


def flow_and_mask(
    current: np.ndarray, previous: np.ndarray, preset: str = "medium"
) -> tuple[np.ndarray, np.ndarray]:
    """For frame t and frame t-1 (original RGB): flow t -> t-1 and its reliability mask."""
    w, mask, _ = flows_and_mask(current, previous, preset)
    return w, mask
