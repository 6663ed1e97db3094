"""Peak RSS of `stylize_video` at two clip lengths: the frame pipeline's memory must not grow
with the clip (issue 9: <= 300 MB between 500 and 4,000 frames at 384 px).

The stylizer is patched to copy its input (no optimisation) and the per-frame fidelity scorer
to return 0: what is measured is everything else, the frame pipeline: decoding, cut detection,
the resume state (PNG per frame), the in-order writer, the x264 pipe, the streamed warping
error and detail measure with their flows. Each length runs in a fresh process.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/video_memory.py --frames 500,4000 --size 384
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_clip(path: Path, frames: int, width: int, height: int, fps: int = 30) -> None:
    """ffmpeg's moving test pattern (testsrc2) with a tone, H.264."""
    from stylebatch.video.encode import ffmpeg_exe

    src = f"testsrc2=size={width}x{height}:rate={fps}"
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", src]
    cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={frames / fps}"]
    cmd += ["-frames:v", str(frames), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    cmd += ["-c:a", "aac", "-shortest", str(path)]
    subprocess.run(cmd, check=True)


def child(clip: Path, size: int, work: Path) -> dict:
    import numpy as np
    import torch

    from stylebatch import pipelines
    from stylebatch.video import metrics, runner, stylize_video

    torch.set_num_threads(1)

    def copy(self, content, flow_mask=None):
        self.previous = content.astype(np.float32) / 255.0
        return content.copy(), {}, 0.0

    runner.FrameStylizer.frame = copy
    metrics.FrameScorer.frame_loss = lambda self, original, stylised: [0.0] * len(stylised)
    from PIL import Image

    settings = {"size": size, "weights": "random", "device": "cpu", "video.temporal": "independent"}
    cfg = pipelines.load("video", settings)
    style = work / "style.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(style)
    began = time.perf_counter()
    report = stylize_video(clip, [style], work / "out.mp4", cfg, run_dir=work / "run")
    seconds = time.perf_counter() - began
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "frames": report.frames,
        "size": list(report.size),
        "peak_rss_mib": peak_kib / 1024,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default="500,4000")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--child", nargs=2, metavar=("CLIP", "WORK"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.size, Path(args.child[1]))))
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="video_memory.") as tmp:
        for n in [int(x) for x in args.frames.split(",")]:
            work = Path(tmp) / str(n)
            work.mkdir()
            clip = work / "clip.mp4"
            make_clip(clip, n, args.size, args.size * 9 // 16)
            proc = subprocess.run(
                [sys.executable, __file__, "--size", str(args.size), "--child", str(clip), str(work)],
                capture_output=True,
                text=True,
                env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
            )
            if proc.returncode:
                sys.exit(proc.stderr[-3000:])
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    growth = results[-1]["peak_rss_mib"] - results[0]["peak_rss_mib"]
    print(
        f"{platform.node()} {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: peak RSS "
        + ", ".join(
            f"{r['frames']} frames {r['peak_rss_mib']:.0f} MiB ({r['seconds']:.0f} s)" for r in results
        )
        + f"; growth {growth:+.0f} MiB (limit 300 MB)"
    )


if __name__ == "__main__":
    main()
