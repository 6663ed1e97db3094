"""The engine on a GPU, in one command: speed by size and switch, bf16 vs fp32 quality, memory.

    python benchmarks/gpu_bench.py            # or: bash benchmarks/gpu.sh (adds the peers)

Needs torch + torchvision with CUDA (Ray, typer, OpenCV not needed; OpenCV adds the optical
flow to the video-frame time). Prints markdown tables and appends them to
benchmarks/RESULTS.md. Sections:
1. ms/step at each size for each switch: fp32 (TF32 off), TF32, bf16, bf16 + channels_last,
   + torch.compile, + CUDA graphs; achieved TFLOP/s against the 0.38 TFLOP step at 512 and
   peak memory. The fastest switch that stays within 1% (section 2) is the one to default.
2. Quality: the default pipeline at 512 in fp32 and in the bf16 fast path, both outputs
   scored by the fixed fp32 scorer; the goal is a difference within 1%.
3. Memory at 3840x2160: one Adam bf16 step at full size (the last scale of a multi-scale
   run), OOM caught and reported.
4. A 720p video frame in warped mode (FrameStylizer, the video preset's frame_steps).
5. Print size (tiled optimisation, issue 14): peak memory and s/step at 3840x2160 and
   8192x8192 (`--tiled-sizes`), automatic tile budget and a 4 Mpixel cap (`--tile-caps`).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from stylebatch import pipelines  # noqa: E402
from stylebatch.engine import bench, stylize_tensors  # noqa: E402
from stylebatch.engine.scorer import Scorer  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
H100_FLOOR_MS = 0.5  # DESIGN.md: 0.38 TFLOP at bf16 on an H100

SWITCHES = {
    "fp32 (no TF32)": dict(precision="fp32", channels_last="off"),
    "tf32": dict(precision="fp32", channels_last="off"),
    "bf16": dict(precision="bf16", channels_last="off"),
    "bf16 + channels_last": dict(precision="bf16", channels_last="on"),
    "bf16 + CL + compile": dict(precision="bf16", channels_last="on", compile=True),
    "bf16 + CL + CUDA graphs": dict(precision="bf16", channels_last="on", cuda_graphs=True),
    "bf16 + CL, Adam (no host sync per step)": dict(precision="bf16", channels_last="on", optimizer="adam"),
}
DEVICE = "cuda"  # --device cpu: a smoke test of this script on a machine without a GPU


def _tf32(on: bool) -> None:
    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def speed(sizes: list[int], steps: int, weights: str) -> tuple[str, dict]:
    lines = [
        "| switch | " + " | ".join(f"{s} ms/step (TFLOP/s, peak MB)" for s in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    best: dict[int, tuple[float, str]] = {}
    for name, switch in SWITCHES.items():
        _tf32(name != "fp32 (no TF32)")
        base = pipelines.load("default", {"device": DEVICE, "weights": weights, **switch})
        cells = []
        for size in sizes:
            try:
                ms, peak = bench.time_steps(base, size, steps)
            except Exception as exc:  # one broken switch must not hide the others
                cells.append(f"failed: {type(exc).__name__}: {str(exc)[:60]}")
                torch.cuda.empty_cache()
                continue
            tflops = bench.step_flops(size, size) / (ms / 1e3) / 1e12
            cells.append(f"{ms:.2f} ({tflops:.1f}, {'n/a' if peak is None else f'{peak:.0f}'})")
            if size not in best or ms < best[size][0]:
                best[size] = (ms, name)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    _tf32(True)
    if 512 in best:
        ms, name = best[512]
        lines.append(
            f"\nFastest at 512: {ms:.2f} ms/step ({name}) = {ms / H100_FLOOR_MS:.1f}x the 0.5 ms H100 "
            f"bf16 floor (0.38 TFLOP/step); goal <= 1.5 ms."
        )
    return "\n".join(lines), best


def quality(size: int, weights: str) -> str:
    gen = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    content = torch.stack([0.5 + 0.5 * torch.sin(9 * x), y, 0.5 + 0.5 * torch.cos(7 * (x + y))])[None]
    style = torch.rand(1, 3, size // 8, size // 8, generator=gen)
    style = torch.nn.functional.interpolate(style, size=(size, size), mode="bicubic").clamp(0, 1)
    scorer = Scorer(content, style, weights_spec=weights, device=DEVICE)
    lines = [
        "| optimizer | fp32 scorer total | bf16 fast path scorer total | difference | fp32 s | bf16 s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for optimizer in ("lbfgs", "adam"):
        scores, seconds = [], []
        for precision, cl in (("fp32", "off"), ("bf16", "on")):
            _tf32(precision != "fp32")
            cfg = pipelines.load(
                "default",
                dict(size=size, device=DEVICE, weights=weights, precision=precision, channels_last=cl,
                     optimizer=optimizer, early_stop=0.0),
            )  # fmt: skip
            start = time.perf_counter()
            result = stylize_tensors(content, [style], cfg)
            seconds.append(time.perf_counter() - start)
            scores.append(scorer(result.image)[0].total)
        _tf32(True)
        delta = (scores[1] - scores[0]) / abs(scores[0])
        lines.append(
            f"| {optimizer} | {scores[0]:.6g} | {scores[1]:.6g} | {delta:+.2%} | "
            f"{seconds[0]:.1f} | {seconds[1]:.1f} |"
        )
    return "\n".join(lines) + f"\n\nGoal: |difference| <= 1% (default pipeline to {size} px, no early stop)."


def memory_4k(weights: str) -> str:
    h, w = 2160, 3840
    cfg = pipelines.load(
        "hires",
        dict(size=w, scales=1, steps=3, device=DEVICE, weights=weights, precision="bf16",
             channels_last="on", progress_every=1, early_stop=0.0),
    )  # fmt: skip
    content = torch.rand(1, 3, h, w)
    style = torch.rand(1, 3, 1024, 1024)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    marks: list[float] = []
    try:
        stylize_tensors(content, [style], cfg, callback=lambda info: marks.append(info.elapsed))
    except torch.OutOfMemoryError as exc:
        torch.cuda.empty_cache()
        return f"3840x2160 Adam bf16: out of memory ({str(exc)[:120]})"
    peak = torch.cuda.max_memory_allocated() / 2**30
    ms = (marks[-1] - marks[0]) / (len(marks) - 1) * 1e3
    total = torch.cuda.get_device_properties(0).total_memory / 2**30
    return (
        f"3840x2160, Adam bf16 + channels_last, one scale: {ms:.0f} ms/step, peak {peak:.1f} GiB of "
        f"{total:.0f} GiB. Multi-scale to 4K = coarser scales (smaller) + this last scale; "
        "`stylebatch image --pipeline hires --size 3840` (L-BFGS adds its history: ~2x the image "
        "per history pair, use Adam at this size)."
    )


def memory_tiled(weights: str, sizes: str, caps: str) -> str:
    """Peak memory and speed of tiled scales (one scale, hires recipe: Adam, bf16 on CUDA)."""
    from stylebatch.engine import tiles as tiling

    lines = [
        "| output | max_tile_pixels | tiles (tile size) | peak GiB | s/step | s per Mpixel per step |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for spec in sizes.split(","):
        w, h = (int(v) for v in spec.split("x"))
        for cap in (int(c) for c in caps.split(",")):
            cfg = pipelines.load(
                "hires",
                dict(size=max(h, w), scales=1, steps=3, device=DEVICE, weights=weights, max_tile_pixels=cap,
                     progress_every=1, early_stop=0.0),
            )  # fmt: skip
            content = torch.rand(1, 3, h, w)
            style = torch.rand(1, 3, 1024, 1024)
            marks: list[float] = []
            notes: list[str] = []

            def callback(info, marks=marks, notes=notes) -> None:
                if info.note:
                    notes.append(info.note)
                if not info.tiles:
                    marks.append(info.elapsed)

            if DEVICE.startswith("cuda"):
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            try:
                stylize_tensors(content, [style], cfg, callback=callback)
            except torch.OutOfMemoryError as exc:
                torch.cuda.empty_cache()
                lines.append(f"| {w}x{h} | {cap or 'auto'} | out of memory: {str(exc)[:80]} | | | |")
                continue
            peak = torch.cuda.max_memory_allocated() / 2**30 if DEVICE.startswith("cuda") else float("nan")
            per_step = (marks[-1] - marks[0]) / (len(marks) - 1)
            how = notes[0].split(": ", 1)[1].split(",")[0] if notes else "untiled (fits)"
            budget = tiling.budget(cfg, torch.device(DEVICE))
            lines.append(
                f"| {w}x{h} | {cap or f'auto ({budget:,})'} | {how} | {peak:.1f} | {per_step:.2f} | "
                f"{per_step / (w * h / 1e6):.3f} |"
            )
    return "\n".join(lines) + (
        "\n\nPlan from these: peak = tile activations + image-sized state (Adam); 4096 and 8192 px "
        "fit any GPU whose free memory holds the state (about 130 bytes per output pixel)."
    )


def video_frame(weights: str) -> str:
    try:
        from stylebatch.video.runner import FrameStylizer
    except Exception as exc:
        return f"video module not importable here ({type(exc).__name__}: {exc})"
    import numpy as np

    try:
        cfg = pipelines.load("video", {"device": DEVICE, "weights": weights, "size": 1280})
    except Exception:
        cfg = pipelines.load("default", {"device": DEVICE, "weights": weights, "size": 1280})
    cfg = cfg.replace(video=dict(temporal="warped")) if cfg.video.temporal != "warped" else cfg
    rng = np.random.default_rng(0)
    frames = [(rng.random((720, 1280, 3)) * 255).astype(np.uint8) for _ in range(3)]
    style = torch.rand(1, 3, 512, 512)
    stylizer = FrameStylizer([style], cfg)
    stylizer.frame(frames[0])  # first frame of a shot (more steps, all scales)
    flow_s, flow_mask = 0.0, None
    try:
        from stylebatch.video import flow as flowlib

        start = time.perf_counter()
        flow_mask = flowlib.flow_and_mask(frames[1], frames[0], cfg.video.flow_preset)
        flow_s = time.perf_counter() - start
    except Exception as exc:  # no OpenCV: zero flow, all pixels reliable
        print(f"optical flow unavailable ({exc}); timing the stylisation only")
    times = []
    for frame in frames[1:]:
        _, _, seconds = stylizer.frame(frame, flow_mask)
        times.append(seconds)
    per = min(times)
    return (
        f"720p frame, warped mode, {cfg.video.frame_steps} steps: {per:.2f} s stylisation + "
        f"{flow_s:.2f} s optical flow (CPU) = {60 / (per + flow_s):.1f} frames/minute per GPU"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="stylebatch engine benchmark on a CUDA GPU")
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--weights", default="random", help="random (default) or a VGG-19 file")
    parser.add_argument("--device", default="cuda", help="cpu: smoke-test this script only")
    parser.add_argument("--quality-size", type=int, default=512)
    parser.add_argument(
        "--skip", default="", help="comma list of sections to skip: speed,quality,4k,video,tiled"
    )
    parser.add_argument("--tiled-sizes", default="3840x2160,8192x8192", help="WxH list for the tiled section")
    parser.add_argument("--tile-caps", default="0,4194304", help="max_tile_pixels values (0 = automatic)")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("gpu_bench.py needs a CUDA GPU (for the CPU: stylebatch bench --device cpu)")
    skip = set(args.skip.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    device = bench.describe_device(torch.device(DEVICE))
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        f"\n## GPU engine benchmark ({now})\n",
        f"- device: {device}; torch {torch.__version__}; cuDNN {torch.backends.cudnn.version()}; "
        f"python {platform.python_version()}",
        f"- command: `python benchmarks/gpu_bench.py {' '.join(sys.argv[1:])}`",
        f"- weights: {args.weights}; timed steps per cell: {args.steps} (after a warm-up run)\n",
    ]
    sections = [
        ("speed", "### ms/step by switch and size", lambda: speed(sizes, args.steps, args.weights)[0]),
        (
            "quality",
            "### bf16 fast path vs fp32 (fixed fp32 scorer)",
            lambda: quality(args.quality_size, args.weights),
        ),
        ("4k", "### Memory at 3840x2160", lambda: memory_4k(args.weights)),
        ("video", "### Video frame", lambda: video_frame(args.weights)),
        (
            "tiled",
            "### Print size: tiled memory and speed",
            lambda: memory_tiled(args.weights, args.tiled_sizes, args.tile_caps),
        ),
    ]
    for key, title, fn in sections:
        if key in skip:
            continue
        print(title, flush=True)
        try:
            text = fn()
        except Exception:
            text = "failed:\n```\n" + traceback.format_exc()[-1500:] + "```"
        print(text, flush=True)
        out += [title, "", text, ""]
    if DEVICE == "cpu":
        print("(smoke test on the CPU: not appended to RESULTS.md)")
        return
    with open(RESULTS, "a", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
