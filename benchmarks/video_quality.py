"""Video quality, two-sided: warping error AND detail AND scorer loss, per temporal mode.

For each clip (the real `../shared/data/video/realshort.mp4` and motion clips this script
renders: a camera panning and zooming over a painting while an object crosses it) and each
mode (independent, previous, warped) and worker count, runs `stylebatch.video.stylize_video`
as a user would, then streams the result through `metrics.measure_videos` with the
independent run (same worker count 1) as the reference: warping error (and its ratio to
independent's), detail retention (min, mean), the fixed scorer's loss per frame (worst frame
relative to independent's mean), frames per minute. Appends a table to benchmarks/RESULTS.md.

`--ablation` instead runs the smear ablation of issue 9 in-process on the first frames of
a clip: detail (mean |Laplacian| of luminance, relative to frame 0) frame by frame for
warped-mode variants with one suspected cause removed each.

    python benchmarks/video_quality.py --clips real,pan --workers 1 --size 96
    python benchmarks/video_quality.py --ablation --frames 12 --frame-steps 30
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SHARED = ROOT.parent / "shared" / "data"
WORK = ROOT / "benchmarks" / "_work" / "video_quality"
MODES = ("independent", "previous", "warped")


def render_motion_clip(
    path: Path, painting: Path, obj: Path, frames: int, size: tuple[int, int], seed: int, zoom: float = 0.25
) -> Path:
    """A camera over a painting with real motion: a pan whose speed varies (0.1-1.6 px/frame
    at the output size), a slow zoom (the window narrows by `zoom` over the clip), and a textured ellipse (cut from another painting)
    crossing the frame on its own path. Rendered at 4x and area-downscaled (no aliasing),
    encoded near-losslessly (x264 crf 8, yuv444p) at 24 fps."""
    from stylebatch.video.encode import ffmpeg_exe

    w, h = size
    scene = cv2.cvtColor(cv2.imread(str(painting)), cv2.COLOR_BGR2RGB)
    patch = cv2.cvtColor(cv2.imread(str(obj)), cv2.COLOR_BGR2RGB)
    rng = np.random.default_rng(seed)
    big_w, big_h = 4 * w, 4 * h
    # the camera window on the painting: (cx, cy, width) per frame, in painting pixels
    ph, pw = scene.shape[:2]
    width0 = 0.55 * pw
    phase = rng.uniform(0, 2 * np.pi)
    pos = np.cumsum(0.55 + 0.45 * np.sin(np.linspace(0, 3 * np.pi, frames) + phase))  # varying speed
    span = 0.3 * pw
    out = []
    obj_r = (0.22 * big_w, 0.16 * big_w)
    obj_tex = cv2.resize(patch, (int(2 * obj_r[0]), int(2 * obj_r[1])), interpolation=cv2.INTER_AREA)
    for i in range(frames):
        cw = width0 * (1.0 - zoom * i / max(frames - 1, 1))
        cx = 0.25 * pw + cw / 2 + span * pos[i] / pos[-1]
        cy = ph / 2 + 0.08 * ph * np.sin(2 * np.pi * i / frames)
        scale = big_w / cw
        m = np.float32([[scale, 0, big_w / 2 - scale * cx], [0, scale, big_h / 2 - scale * cy]])
        frame = cv2.warpAffine(
            scene, m, (big_w, big_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        # the object: moves right-to-left and down, turning slowly
        ox = big_w * (1.1 - 1.3 * i / frames)
        oy = big_h * (0.3 + 0.35 * i / frames)
        angle = 25.0 * i / frames
        rot = cv2.getRotationMatrix2D((obj_r[0], obj_r[1]), angle, 1.0)
        rot[:, 2] += (ox - obj_r[0], oy - obj_r[1])
        tex = cv2.warpAffine(obj_tex, rot, (big_w, big_h), flags=cv2.INTER_LINEAR)
        mask = np.zeros((int(2 * obj_r[1]), int(2 * obj_r[0])), np.uint8)
        cv2.ellipse(
            mask, (int(obj_r[0]), int(obj_r[1])), (int(obj_r[0]) - 1, int(obj_r[1]) - 1), 0, 0, 360, 255, -1
        )
        alpha = cv2.warpAffine(mask, rot, (big_w, big_h), flags=cv2.INTER_LINEAR)[..., None] / 255.0
        frame = (frame * (1 - alpha) + tex * alpha).astype(np.uint8)
        out.append(cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA))
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    cmd += [
        "-s",
        f"{w}x{h}",
        "-r",
        "24",
        "-i",
        "-",
        "-c:v",
        "libx264",
        "-crf",
        "8",
        "-pix_fmt",
        "yuv444p",
        str(path),
    ]
    subprocess.run(cmd, input=np.ascontiguousarray(np.stack(out)).tobytes(), check=True)
    return path


def clips(names: list[str], frames: int, size: int, zoom: float = 0.25) -> dict[str, Path]:
    WORK.mkdir(parents=True, exist_ok=True)
    styles = SHARED / "styles"
    out: dict[str, Path] = {}
    w, h = (size, size * 3 // 4) if size % 4 == 0 else (size, size)
    for name in names:
        if name == "real":
            path = SHARED / "video" / "realshort.mp4"
            if not path.exists():
                print(f"skip real: {path} not found", file=sys.stderr)
                continue
            out[name] = path
        elif name in ("pan", "zoom"):
            painting, obj = (
                (styles / "shipwreck.jpg", styles / "the_scream.jpg")
                if name == "pan"
                else (styles / "the_scream.jpg", styles / "shipwreck.jpg")
            )
            zoomed = "" if zoom == 0.25 else f"_zoom{zoom:g}"
            path = WORK / f"{name}{zoomed}_{frames}_{w}x{h}.mp4"
            if not path.exists():
                render_motion_clip(path, painting, obj, frames, (w, h), seed=len(name), zoom=zoom)
            out[name] = path
        else:
            raise SystemExit(f"unknown clip {name!r}: real, pan or zoom")
    return out


def config(args, mode: str, chunks: int = 1, frames: int = 0):
    """The `video` preset at the benchmark's size and steps; with `--in-process`, `chunks` > 1
    splits the clip as that many Ray workers would (the same plan and chains), run in turn."""
    from stylebatch import pipelines

    settings = {
        "size": args.size,
        "weights": "random",
        "device": "cpu",
        "video.temporal": mode,
        "video.first_frame_steps": args.first_steps,
        "video.frame_steps": args.frame_steps,
        "video.crf": args.crf_run,
    }
    for item in args.set or []:
        key, _, value = item.partition("=")
        settings[key] = json.loads(value) if value[:1].isdigit() or value in ("true", "false") else value
    if chunks > 1:
        settings["video.chunk_frames"] = -(-frames // chunks)
        settings["video.min_chunk_frames"] = 1
    return pipelines.load("video", settings)


def frame_count(clip: Path) -> int:
    capture = cv2.VideoCapture(str(clip))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()


def seam_over_one_chain(quality: dict, one: dict | None) -> float | None:
    """The worst seam pair over the same pair of the one-worker run (what the seam adds, net of
    the clip's own motion: a pan's own pairs can reach 2.4x its median)."""
    if one is None or not quality["seam_pairs"]:
        return None
    own = dict(zip(one["warp_error"]["frames"], one["warp_error"]["pairs"], strict=True))
    pairs = dict(zip(quality["warp_error"]["frames"], quality["warp_error"]["pairs"], strict=True))
    ratios = [pairs[t] / own[t] for t in quality["seam_pairs"] if t in pairs and own.get(t)]
    return max(ratios) if ratios else None


def run_modes(args) -> None:
    from stylebatch.api import as_tensor
    from stylebatch.video import metrics, stylize_video

    style_path = Path(args.style)
    rows = []
    for clip_name, clip in clips(args.clips.split(","), args.frames, args.size, args.zoom).items():
        reference = None
        one_worker: dict[str, dict] = {}  # mode -> the 1-worker run's quality
        for workers in [int(w) for w in args.workers.split(",")]:
            for mode in args.modes.split(","):
                if mode == "independent" and workers > 1 and reference is not None:
                    continue  # independent frames do not depend on the split
                if workers > 1 and mode not in (args.split_modes or mode).split(","):
                    continue
                kept = WORK / f"{clip_name}_independent_w1_{args.reference_tag}.mp4"
                if mode == "independent" and args.reference_tag and kept.exists():
                    reference = kept  # the same clip and steps, run before under that tag
                    print(f"reference: {kept.name}", flush=True)
                    continue
                chunks = workers if args.in_process else 1
                cfg = config(args, mode, chunks, frame_count(clip))
                out = WORK / f"{clip_name}_{mode}_w{workers}_{args.tag}.mp4"
                start = time.perf_counter()
                report = stylize_video(
                    clip,
                    [style_path],
                    out,
                    cfg,
                    run_dir=WORK / f"{out.name}.run",
                    workers=1 if args.in_process else workers,
                )
                seconds = time.perf_counter() - start
                if mode == "independent" and workers == 1:
                    reference = out
                style = as_tensor(style_path, max(report.size), cfg.max_pixels)
                # the run's own measure knows where its seams are (the file's re-measure does not)
                ran = json.loads((WORK / f"{out.name}.run" / "video_report.json").read_text())["quality"]
                if workers == 1:
                    one_worker[mode] = ran
                own = seam_over_one_chain(ran, one_worker.get(mode) if workers > 1 else None)
                mean_over_one = (
                    ran["warp_error"]["mean"] / one_worker[mode]["warp_error"]["mean"]
                    if workers > 1 and mode in one_worker
                    else None
                )
                fpm = 60.0 * report.frames / seconds
                for encode, stylised, ref in encodes(args, out, reference if mode != "independent" else out):
                    quality, _ = metrics.measure_videos(
                        clip, stylised, reference=ref, styles=[style], weights_spec="random",
                        cut_threshold=cfg.video.cut_threshold,
                    )  # fmt: skip
                    s = quality.summary()
                    s["seam_worst"] = ran["summary"]["seam_worst"]
                    row = (
                        f"| {clip_name} | {report.frames} @ {report.size[0]}x{report.size[1]} | {mode} "
                        f"| {workers} | {encode} "
                        f"| {s['warp_error']:.5f} | {_f(s['warp_ratio'], '.3f')} | {s['warp_error_input']:.5f} "
                        f"| {s['detail_min']:.3f} | {s['detail_mean']:.3f} | {_f(s['fidelity_ratio_max'], '.3f')} "
                        f"| {_f(s['fidelity_same_frame_max'], '.3f')} "
                        f"| {_f(s['seam_worst'], '.2f')} | {_f(own, '.2f')} | {_f(mean_over_one, '.3f')} "
                        f"| {fpm:.1f} |"
                    )
                    rows.append(row)
                    print(row, flush=True)
                    (WORK / f"{stylised.name}.quality.json").write_text(json.dumps(quality.to_dict()))
    header = [
        "| clip | frames | mode | workers | encode | E_warp | vs independent (<= 0.25) | input's own "
        "| detail min (>= 0.9) | detail mean | worst frame loss / independent mean (<= 1.15) "
        "| / independent's same frame "
        "| worst seam pair / median | / one chain's same pair (<= 1.5) | E_warp / one worker's (<= 1.1) "
        "| frames/min |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    _record("Video quality: consistency, detail, fidelity by temporal mode", header + rows, args)


def encodes(args, out: Path, reference: Path) -> list[tuple[str, Path, Path]]:
    """(label, stylised, reference) per encode to measure. The runs write lossless files
    (`video.crf` 0) unless `--crf-run` says otherwise: that measures the method. Each file is
    then encoded again as `stylebatch video` would at `--crf` (from the lossless file, so the
    one lossy encode is the product's): that measures what the user gets, where x264 also
    smooths away part of independent's flicker and of the finest texture in B-frames."""
    if args.crf_run != 0:
        return [(f"crf {args.crf_run}", out, reference)]
    return [
        ("lossless", out, reference),
        (f"crf {args.crf}", reencode(out, args.crf), reencode(reference, args.crf)),
    ]


def reencode(path: Path, crf: int) -> Path:
    """`path` (a lossless file) encoded with the product's x264 settings at `crf` (kept)."""
    from stylebatch.video.encode import ffmpeg_exe, x264_args

    out = path.with_name(f"{path.stem}.crf{crf}.mp4")
    if not out.exists() or out.stat().st_mtime < path.stat().st_mtime:
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(path)]
        subprocess.run(cmd + x264_args(crf) + ["-an", str(out)], check=True)
    return out


def _f(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def ablation(args) -> None:
    """Detail vs frame index for warped-mode variants, each removing one suspected cause."""
    from stylebatch.api import as_tensor
    from stylebatch.engine import Temporal, stylize_tensors
    from stylebatch.video import decode, metrics
    from stylebatch.video import flow as flowlib
    from stylebatch.video.runner import to_rgb, to_tensor, to_tensor_float

    clip = clips([args.clips.split(",")[0]], max(args.frames, 12), args.size)
    ((clip_name, path),) = clip.items()
    info = decode.open_video(path)
    size = decode.working_size(info.width, info.height, args.size)
    frames = decode.read_frames(info, size, range(0, args.frames))
    cfg = config(args, "warped")
    style = [as_tensor(Path(args.style), args.size, cfg.max_pixels)]
    cache: dict = {}
    later = cfg.replace(scales=1)
    first = stylize_tensors(to_tensor(frames[0]), style, cfg, steps=args.first_steps, cache=cache).image
    independent_last = stylize_tensors(
        to_tensor(frames[-1]), style, cfg, steps=args.first_steps, cache=cache
    ).image
    flows = [None] + [flowlib.flow_and_mask(frames[t], frames[t - 1]) for t in range(1, len(frames))]

    def nearest(image: np.ndarray, w: np.ndarray) -> np.ndarray:
        ys, xs = np.mgrid[0 : w.shape[0], 0 : w.shape[1]].astype(np.float32)
        map_x, map_y = np.rint(xs + w[..., 0]), np.rint(ys + w[..., 1])
        return cv2.remap(image, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)

    variants = {
        "warped (Ruder: bilinear warp, weight 50, full-band loss)": {},
        "no resampling blur (nearest-pixel warp)": {"warp": "nearest"},
        "no temporal loss (init = warped only)": {"weight": 0.0},
        "disoccluded pixels from content": {"fill": "content"},
        "previous (no warp, no temporal loss)": {"previous": True},
        f"low-pass temporal loss (sigma {args.blur:g} px)": {"blur": args.blur},
        "resampling only, no optimisation": {"steps": 0},
    }
    rows = []
    for label, v in variants.items():
        prev = first[0].permute(1, 2, 0).numpy()
        out = [to_rgb(first)]
        start = time.perf_counter()
        for t in range(1, len(frames)):
            w, mask = flows[t]
            if v.get("previous"):
                init, temporal = prev, None
            else:
                warped = nearest(prev, w) if v.get("warp") == "nearest" else flowlib.warp(prev, w)
                init = warped
                if v.get("fill") == "content":
                    init = np.where(mask[..., None] > 0, warped, frames[t].astype(np.float32) / 255)
                weight = v.get("weight", cfg.video.temporal_weight)
                temporal = (
                    Temporal(
                        to_tensor_float(warped),
                        torch.from_numpy(mask)[None, None],
                        weight,
                        v.get("blur", 0.0),
                    )
                    if weight > 0
                    else None
                )
            steps = v.get("steps", args.frame_steps)
            if steps == 0:
                image = to_tensor_float(np.clip(init, 0, 1))
            else:
                image = stylize_tensors(
                    to_tensor(frames[t]), style, later, steps=steps, cache=cache,
                    init_image=to_tensor_float(init), temporal=temporal,
                ).image  # fmt: skip
            prev = image[0].permute(1, 2, 0).numpy()
            out.append(to_rgb(image))
        video = np.stack(out)
        detail = [metrics.detail(f) for f in video]
        rel = [d / detail[0] for d in detail]
        last_vs_ind = detail[-1] / metrics.detail(to_rgb(independent_last))
        we = metrics.warp_error(frames, video).mean
        every = max(1, len(rel) // 6)
        row = (
            f"| {label} | {we:.5f} | {last_vs_ind:.2f} | "
            + " | ".join(f"{r:.2f}" for r in rel[::every])
            + f" | {time.perf_counter() - start:.0f} |"
        )
        rows.append(row)
        print(row, flush=True)
    every = max(1, len(frames) // 6)
    cols = list(range(0, len(frames), every))
    header = [
        "| variant | E_warp | last frame detail / independent's | "
        + " | ".join(f"detail t={t}" for t in cols)
        + " | s |",
        "|---|---:|---:|" + "---:|" * len(cols) + "---:|",
    ]
    _record(
        f"Video smear ablation on {clip_name} ({len(frames)} frames, detail relative to frame 0)",
        header + rows,
        args,
    )


def _record(title: str, lines: list[str], args) -> None:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = "\n".join(lines)
    text = (
        f"\n## {title} ({now})\n\n- device: {args.device_note}; torch {torch.__version__} "
        f"({torch.get_num_threads()} thread(s)); python {platform.python_version()}\n"
        f"- command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python benchmarks/video_quality.py "
        f"{' '.join(sys.argv[1:])}`\n- random VGG-19 weights, style {Path(args.style).name}, "
        f"{args.size} px, first frame {args.first_steps} steps, later frames {args.frame_steps} steps\n"
        + (f"- {args.note}\n" if args.note else "")
        + f"\n{table}\n"
    )
    print(table)
    if not args.no_record:
        with open(RESULTS, "a", encoding="utf-8") as f:
            f.write(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", default="real,pan", help="real, pan, zoom (comma-separated)")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--workers", default="1", help="worker counts, e.g. 1,2,4")
    p.add_argument(
        "--in-process",
        action="store_true",
        help="N workers = N chunks run in turn in this process (the same chains as N Ray workers)",
    )
    p.add_argument("--split-modes", default="", help="modes run with >1 worker (default: all)")
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--frames", type=int, default=120, help="frames of the rendered motion clips")
    p.add_argument(
        "--zoom", type=float, default=0.25, help="rendered clips: how far the camera zooms in (0: none)"
    )
    p.add_argument("--first-steps", type=int, default=60)
    p.add_argument("--frame-steps", type=int, default=30)
    p.add_argument("--crf", type=int, default=18, help="the user's encode, measured on a copy of each run")
    p.add_argument(
        "--crf-run", type=int, default=0, help="the runs' own encode (0: lossless, measures the method)"
    )
    p.add_argument("--style", default=str(SHARED / "styles" / "starry_night.jpg"))
    p.add_argument("--set", action="append", help="extra pipeline setting key=value")
    p.add_argument("--ablation", action="store_true")
    p.add_argument("--blur", type=float, default=1.0, help="ablation: sigma of the low-pass temporal loss")
    p.add_argument("--tag", default="run")
    p.add_argument("--reference-tag", default="", help="reuse the independent run made under this tag")
    p.add_argument("--note", default="")
    p.add_argument("--device-note", default="2-core CPU VM, shared with other work")
    p.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = p.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    ablation(args) if args.ablation else run_modes(args)


if __name__ == "__main__":
    main()
