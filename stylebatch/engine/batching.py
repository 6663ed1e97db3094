"""Many images through one engine call: grouping by size, batch size, out-of-memory retry.

`stylize_batch(contents, styles, cfg)` is what a worker calls with a list of jobs that share
a config and styles. Images of the same input size are optimised together as one batch
tensor; results come back one `StyleResult` per image, in input order.

Exactness: with Adam a batch equals separate runs (per-image losses, elementwise updates,
per-image early stopping and noise; float rounding of batched convolutions aside). L-BFGS
couples the images of a batch through its shared history and step size, and histogram
colour matching is done per content image, so those run one image at a time here: a job's
result never depends on which other jobs it was grouped with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..config import StyleConfig
from ..errors import StylebatchError
from .core import Callback, StyleResult, pick_device, stylize_tensors, use_bf16

# On CUDA a VGG-19 step is assumed saturated by about this many pixels per batch: an
# estimate until benchmarks/gpu_bench.py's batch sweep measures it (benchmarks/README.md).
# CPU: 1. The CPU convolutions already use every core for one image, and on the shared
# 2-core test machine the batch timings were too noisy to show a gain (RESULTS.md).
CUDA_PIXEL_BUDGET = 1024 * 1024
MAX_BATCH = 16


class OutOfMemory(StylebatchError):
    """The GPU ran out of memory even for one image at this size."""


def can_batch(cfg: StyleConfig) -> bool:
    """Whether a batch of this config equals separate runs (see the module docstring)."""
    return cfg.optimizer == "adam" and cfg.color != "histogram"


def activation_bytes_per_pixel(bf16: bool) -> float:
    """Rough device memory of one optimisation step per output pixel (VGG-19 to conv5_1).

    Feature maps up to relu5_1 hold ~580 values per input pixel (64-channel maps at full
    resolution dominate); autograd keeps them for the backward pass and the backward pass
    needs about as much again. Calibrate with `stylebatch bench --device cuda` peak memory.
    """
    values = 4 * 64 + 4 * 128 / 4 + 8 * 256 / 16 + 8 * 512 / 64 + 2 * 512 / 256
    return values * (2 if bf16 else 4) * 2.0 + 64  # + image, grads, Adam / L-BFGS state


def auto_batch_size(size: tuple[int, int], cfg: StyleConfig) -> int:
    """Batch size for images of `size` (h, w): 1 where batching is not exact or not faster."""
    if not can_batch(cfg):
        return 1
    device = pick_device(cfg.device)
    if device.type != "cuda":
        return 1
    pixels = size[0] * size[1]
    by_speed = max(1, CUDA_PIXEL_BUDGET // pixels)
    free, _ = torch.cuda.mem_get_info(device)
    by_memory = max(1, int(0.7 * free / (pixels * activation_bytes_per_pixel(use_bf16(cfg, device)))))
    return max(1, min(MAX_BATCH, by_speed, by_memory))


def run_with_retry(
    run: Callable[[Tensor], StyleResult], content: Tensor, batch_size: int
) -> list[StyleResult]:
    """Run `content` [B,3,H,W] in chunks of `batch_size`, halving the chunk on CUDA out-of-memory.

    Raises `OutOfMemory` naming the size once a single image does not fit.
    """
    results: list[StyleResult] = []
    start, size = 0, max(1, batch_size)
    while start < content.shape[0]:
        chunk = content[start : start + size]
        try:
            result = run(chunk)
        except torch.OutOfMemoryError:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if size == 1:
                h, w = content.shape[-2:]
                raise OutOfMemory(
                    f"out of GPU memory at {w}x{h} even with a batch of 1 (tried batch "
                    f"{batch_size} down to 1): use a smaller size, optimizer=adam (no L-BFGS "
                    "history) or fewer scales' worth of detail"
                ) from None
            size = max(1, size // 2)
            continue
        results += split(result)
        start += chunk.shape[0]
    return results


def split(result: StyleResult) -> list[StyleResult]:
    """One StyleResult per image of a batched result."""
    n = result.image.shape[0]
    if n == 1:
        return [result]
    out = []
    for i in range(n):
        history = result.per_image_history[i] if result.per_image_history else []
        out.append(
            StyleResult(
                image=result.image[i : i + 1].clone(),
                losses=result.per_image[i] if result.per_image else {},
                history=history,
                steps=result.steps,
                seconds=result.seconds / n,  # the batch's time, shared out
                sizes=result.sizes,
                device=result.device,
                weights=result.weights,
                per_image=result.per_image[i : i + 1],
                per_image_history=[history],
            )
        )
    return out


def stylize_batch(
    contents: Sequence[Tensor],
    styles: Sequence[Tensor],
    cfg: StyleConfig,
    *,
    style_weights: Sequence[float] | None = None,
    batch_size: int | None = None,
    cache: dict | None = None,
    callback: Callback | None = None,
) -> list[StyleResult]:
    """Stylise each content image ([3,H,W] or [1,3,H,W]) with the same styles; input order kept.

    Images of equal input size run as one batch (api.as_tensor already shrinks inputs to the
    output size, so equal output sizes group). `batch_size` None = `auto_batch_size`.
    """
    groups: dict[tuple[int, int], list[int]] = {}
    tensors = [c.unsqueeze(0) if c.dim() == 3 else c for c in contents]
    for i, c in enumerate(tensors):
        if c.shape[0] != 1:
            raise ValueError("stylize_batch takes single images; pass a list")
        groups.setdefault(tuple(c.shape[-2:]), []).append(i)
    cache = {} if cache is None else cache  # one analysis of each style for all groups
    results: list[StyleResult | None] = [None] * len(tensors)
    for shape, indices in groups.items():
        n = batch_size if batch_size is not None else auto_batch_size(shape, cfg)
        if not can_batch(cfg):
            n = 1
        stacked = torch.cat([tensors[i] for i in indices])

        def run(chunk: Tensor) -> StyleResult:
            return stylize_tensors(
                chunk, styles, cfg, style_weights=style_weights, cache=cache, callback=callback
            )

        for i, result in zip(indices, run_with_retry(run, stacked, n), strict=True):
            results[i] = result
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]
