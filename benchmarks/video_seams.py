"""Seams between parallel chunks: per-pair warping error at the hand-overs vs the clip's median,
and the mean against one unbroken chain (issue 9: every seam pair <= 1.5x the median pair,
mean <= 1.1x the one-worker run).

`--chunks 1,2,4` splits the clip into that many chunks. By default they run in-process one
after another (`video.chunk_frames`), which gives exactly the seams N Ray workers give (the
chunk plan and the chains are the same) without Ray's start-up; `--ray` runs them on N workers.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/video_seams.py ../shared/data/video/realshort.mp4 \\
        --size 96 --chunks 1,2,4 --set video.overlap=8 --set video.seam_warmup=4
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def motion_clip(path: Path, frames: int = 120, width: int = 128, height: int = 96) -> Path:
    """A camera pan with a zoom drift over smooth texture plus a moving square: real motion."""
    import cv2

    from stylebatch.video.encode import ffmpeg_exe

    rng = np.random.default_rng(7)
    big = cv2.resize(
        rng.integers(0, 255, (48, 64, 3), dtype=np.uint8),
        (width * 3, height * 3),
        interpolation=cv2.INTER_CUBIC,
    )
    out = []
    for i in range(frames):
        zoom = 1.0 + 0.002 * i
        x0, y0 = 20 + 2 * i, 30 + int(10 * math.sin(i / 15))
        w, h = int(width * zoom), int(height * zoom)
        frame = cv2.resize(big[y0 : y0 + h, x0 : x0 + w], (width, height), interpolation=cv2.INTER_AREA)
        sx = (10 + 3 * i) % (width - 24)
        frame[30:54, sx : sx + 24] = 255 - frame[30:54, sx : sx + 24]
        out.append(frame)
    import subprocess

    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    cmd += ["-s", f"{width}x{height}", "-r", "24", "-i", "-", "-c:v", "libx264", "-crf", "12", str(path)]
    subprocess.run(cmd, input=np.stack(out).tobytes(), check=True)
    return path


def run(clip: Path, chunks: int, settings: dict, ray: bool, work: Path) -> dict:
    from stylebatch import pipelines
    from stylebatch.video import decode, stylize_video

    info = decode.open_video(clip)
    cfg_settings = dict(settings)
    if chunks > 1 and not ray:
        cfg_settings["video.chunk_frames"] = math.ceil(info.header_frames / chunks)
        cfg_settings["video.min_chunk_frames"] = 1
    cfg = pipelines.load("video", cfg_settings)
    style = Path(__file__).resolve().parents[2] / "shared" / "data" / "styles" / "starry_night.jpg"
    began = time.perf_counter()
    report = stylize_video(
        clip,
        [style],
        work / f"out{chunks}.mp4",
        cfg,
        run_dir=work / f"run{chunks}",
        workers=chunks if ray else 1,
    )
    seconds = time.perf_counter() - began
    pairs = dict(zip(report.pair_frames, report.pair_errors, strict=True))
    seam_pairs = report.seam_summary.get("seam_pairs") or []
    median = float(np.median(report.pair_errors))
    worst = max((pairs[t] for t in seam_pairs if t in pairs), default=None)
    quality = json.loads((work / f"run{chunks}" / "video_report.json").read_text()).get("quality") or {}
    detail = quality.get("detail_raw") or []
    band = sorted({t + 1 for t in seam_pairs} | set(seam_pairs))
    band_detail = [detail[t] for t in band if t < len(detail)]
    return {
        "chunks": chunks,
        "frames": report.frames,
        "computed": report.computed,
        "mean": report.warp_error,
        "median_pair": median,
        "seams": report.seams,
        "seam_worst_over_median": worst / median if worst is not None else None,
        "seam_mean": report.seam_summary.get("seam_mean"),
        # a cross-fade of two textures loses contrast: the band's least detail vs the clip's median
        "band_detail_min_over_median": min(band_detail) / float(np.median(detail)) if band_detail else None,
        "seconds": seconds,
        "frames_per_minute": 60 * report.computed / seconds,
        "pairs": pairs,
        "seam_pairs": seam_pairs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", help="a video, or 'motion' for the synthetic 120-frame motion clip")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--chunks", default="1,2,4")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE pipeline settings")
    parser.add_argument("--ray", action="store_true", help="run N Ray workers instead of N chunks in-process")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    settings = {"size": args.size, "weights": "random", "device": "cpu"}
    for item in args.set:
        key, _, value = item.partition("=")
        settings[key] = json.loads(value) if value[:1].isdigit() or value in ("true", "false") else value
    with tempfile.TemporaryDirectory(prefix="video_seams.") as tmp:
        work = Path(tmp)
        clip = motion_clip(work / "motion.mp4") if args.clip == "motion" else Path(args.clip)
        results = [run(clip, int(n), settings, args.ray, work) for n in args.chunks.split(",")]
    base = results[0]["mean"]
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{platform.node()} {stamp} {clip.name} {settings}")
    own = results[0].pop("pairs")  # the first entry is the reference run (--chunks 1,...)
    for r in results[1:]:
        pairs = r.pop("pairs")
        # the same pair in one unbroken chain: what the seam adds, net of the clip's own motion
        r["seam_worst_over_one_chain_pair"] = max((pairs[t] / own[t] for t in r["seam_pairs"]), default=None)
    for r in results:
        r["mean_over_one"] = r["mean"] / base if base else None
        r.pop("seam_pairs")
        print(json.dumps(r))


if __name__ == "__main__":
    main()
