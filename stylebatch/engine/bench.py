"""Speed on this machine: ms per optimisation step, images per hour and peak memory by size.

A step is one forward + input gradient through VGG-19 up to the deepest loss layer, plus the
optimiser update. Timing skips the set-up (model build, targets, cuDNN autotune, compile): a
warm-up run comes first, then the time between the middle and the last step of a timed run.
"""

from __future__ import annotations

import platform
import resource
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from .. import pipelines
from ..config import StyleConfig
from .datatypes import StepInfo
from .pyramid import stylize_tensors
from .runtime import pick_device, use_bf16, use_channels_last
from .sizes import scale_sizes

# The convolutions a step runs: (in channels, out channels, downsampling) up to conv5_1.
_VGG_CONVS = [(3, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 2)]
_VGG_CONVS += [(128, 256, 4)] + [(256, 256, 4)] * 3 + [(256, 512, 8)] + [(512, 512, 8)] * 3
_VGG_CONVS += [(512, 512, 16)]


def step_flops(height: int, width: int) -> float:
    """FLOPs of one step: the forward convolutions up to conv5_1 and their input gradients.

    The network is frozen, so no weight gradients: 2x the forward, ~0.38 TFLOP at 512x512.
    """
    forward = sum(2 * 9 * cin * cout * (height // d) * (width // d) for cin, cout, d in _VGG_CONVS)
    return 2 * forward


@dataclass
class BenchRow:
    size: int  # longest side (square images)
    ms_per_step: float
    tflops: float  # achieved, counting step_flops
    images_per_hour: float | None  # the default pipeline's full step count, per image
    peak_memory_mb: float | None  # CUDA: max allocated during the timed run; CPU: None


def _config(base: StyleConfig, size: int, steps: int) -> StyleConfig:
    return base.replace(size=size, scales=1, steps=steps, early_stop=0.0, progress_every=max(1, steps // 2))


def time_steps(base: StyleConfig, size: int, steps: int) -> tuple[float, float | None]:
    """(ms per step, peak CUDA memory in MB or None) of a square image of `size`."""
    gen = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, size, size, generator=gen)
    style = torch.rand(1, 3, size, size, generator=gen)
    device = pick_device(base.device)
    stylize_tensors(content, [style], _config(base, size, 2))  # warm-up: build, autotune, compile
    cfg = _config(base, size, max(2, steps))
    marks: list[float] = []

    def callback(info: StepInfo) -> None:
        if not info.tiles:  # per-tile reports of a tiled size are not step marks
            marks.append(info.elapsed)  # after a host sync: the steps so far have finished

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    stylize_tensors(content, [style], cfg, callback=callback)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    half = cfg.progress_every
    ms = (marks[-1] - marks[0]) / (cfg.steps - half) * 1e3
    return ms, peak


def default_pipeline_seconds(size: int, ms_at: dict[int, float]) -> float:
    """Seconds for one image through the default pipeline's scales and steps (no early stop)."""
    cfg = pipelines.load("default", {"size": size})
    levels = scale_sizes(cfg)
    plan = [cfg.coarse_steps] * (len(levels) - 1) + [cfg.steps]
    return sum(n * ms_at[side] for side, n in zip(levels, plan, strict=True)) / 1e3


def run(
    sizes: list[int],
    steps: int = 10,
    *,
    device: str = "auto",
    precision: str = "auto",
    weights: str = "random",
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Measure every size (and the default pipeline's coarser levels for images/hour)."""
    base = pipelines.load("default", {"device": device, "precision": precision, "weights": weights})
    if overrides:
        base = base.replace(**overrides)
    dev = pick_device(base.device)
    ms_at: dict[int, float] = {}
    rows = []
    for size in sizes:
        ms, peak = time_steps(base, size, steps)
        ms_at[size] = ms
        needed = scale_sizes(pipelines.load("default", {"size": size}))
        for side in needed:  # coarser levels of the default pipeline, fewer steps suffice
            if side not in ms_at:
                ms_at[side] = time_steps(base, side, max(2, steps // 2))[0]
        ips = 3600 / default_pipeline_seconds(size, ms_at)
        tflops = step_flops(size, size) / (ms / 1e3) / 1e12
        rows.append(BenchRow(size, ms, tflops, ips, peak))
    return {
        "device": describe_device(dev),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "precision": "bf16" if use_bf16(base, dev) else "fp32",
        "channels_last": use_channels_last(base, dev),
        "compile": base.compile,
        "cuda_graphs": base.cuda_graphs,
        "optimizer": base.optimizer,
        "weights": base.weights,
        "steps": steps,
        "threads": torch.get_num_threads(),
        "process_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rows": [asdict(r) for r in rows],
    }


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table."""
    lines = [
        f"device: {report['device']}; torch {report['torch']}; {report['precision']}, "
        f"channels_last={report['channels_last']}, compile={report['compile']}, "
        f"cuda_graphs={report['cuda_graphs']}, {report['optimizer']}, {report['steps']} steps timed",
        "",
        "| size | ms/step | TFLOP/s | images/hour (default pipeline) | peak MB |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        peak = "n/a" if r["peak_memory_mb"] is None else f"{r['peak_memory_mb']:.0f}"
        lines.append(
            f"| {r['size']} | {r['ms_per_step']:.2f} | "
            f"{r['tflops']:.3f} | {r['images_per_hour']:.1f} | {peak} |"
        )
    return "\n".join(lines)
