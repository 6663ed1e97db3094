"""Print size (issue 14): memory, seams, quality and speed of tiled optimisation.

    OMP_NUM_THREADS=2 python benchmarks/tiling.py quality --size 1024 --steps 30
    OMP_NUM_THREADS=2 python benchmarks/tiling.py memory --runs 512:0,1024:262144,2048:262144

`quality`: one coarse 512 px result, then the 1024 px scale three ways from it: untiled
Adam, tiled Adam (`--max-tile`, default 512x512 worth), untiled L-BFGS (the default
pipeline's optimiser). Scores all with the fixed fp32 scorer (stylebatch/engine/scorer.py),
measures the seam score (mean |finite difference| across the tiles' core borders over the
mean elsewhere) and the tiled-vs-untiled pixel difference, and writes 100% crops of a tile
corner (tiled | untiled) to benchmarks/tiling_corner_SIZE.png.
`memory`: each SIZE:MAX_TILE_PIXELS run (one scale, Adam) in a fresh subprocess; peak RSS
(getrusage), seconds per step, seconds per output megapixel per step. 0 = untiled.
Content: manifests/images/street.jpg; style: ../shared/data/styles/starry_night.jpg when
present (else a synthetic texture). Random VGG-19 weights (no download). Prints markdown.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from stylebatch import api, pipelines  # noqa: E402
from stylebatch.engine import fit_size, stylize_tensors  # noqa: E402
from stylebatch.engine import tiles as tiling  # noqa: E402
from stylebatch.engine.scorer import Scorer  # noqa: E402

CONTENT = ROOT / "manifests" / "images" / "street.jpg"
STYLE = ROOT.parent / "shared" / "data" / "styles" / "starry_night.jpg"


def inputs(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    content = api.as_tensor(CONTENT, None, 10**9)
    if STYLE.is_file():
        style = api.as_tensor(STYLE, size, 10**9)
    else:
        gen = torch.Generator().manual_seed(0)
        style = torch.nn.functional.interpolate(torch.rand(1, 3, 32, 32, generator=gen), size=(size, size))
    return content, style


def config(size: int, max_tile: int, steps: int, optimizer: str, **extra):
    return pipelines.load(
        "default",
        dict(size=size, scales=1, steps=steps, optimizer=optimizer, max_tile_pixels=max_tile,
             weights="random", device="cpu", early_stop=0.0, progress_every=1, **extra),
    )  # fmt: skip


def run(size: int, max_tile: int, steps: int, optimizer: str, init=None) -> dict:
    """One stylisation; seconds per step from the step reports (not the per-tile ones)."""
    content, style = inputs(size)
    cfg = config(size, max_tile or 10**12, steps, optimizer)
    marks: list[float] = []
    tiles = [0]

    def callback(info) -> None:
        if info.tiles:
            tiles[0] = info.tiles
        else:
            marks.append(info.elapsed)

    start = time.perf_counter()
    result = stylize_tensors(content, [style], cfg, init_image=init, callback=callback)
    seconds = time.perf_counter() - start
    per_step = (marks[-1] - marks[0]) / (len(marks) - 1) if len(marks) > 1 else marks[-1]
    h, w = result.image.shape[-2:]
    return {
        "size": f"{w}x{h}",
        "max_tile_pixels": max_tile,
        "tiles": tiles[0] or 1,
        "optimizer": optimizer,
        "steps": steps,
        "seconds": seconds,
        "s_per_step": per_step,
        "s_per_mp_step": per_step / (h * w / 1e6),
        "losses": result.losses,
        "image": result.image,
    }


def child(args) -> None:
    out = run(args.size, args.max_tile, args.steps, args.optimizer)
    image = out.pop("image")
    if args.save:
        torch.save(image, args.save)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out), flush=True)


def memory(args) -> None:
    rows = []
    print(
        "| output | max_tile_pixels | tiles | optimiser | steps | peak RSS MB | s/step | s per MP per step |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|", flush=True)
    for spec in args.runs.split(","):
        size, max_tile = (int(v) for v in spec.split(":"))
        optimizer = args.optimizer
        cmd = [sys.executable, __file__, "child", "--size", str(size), "--max-tile", str(max_tile)]
        cmd += ["--steps", str(args.steps), "--optimizer", optimizer]
        if args.save_dir:
            cmd += ["--save", str(Path(args.save_dir) / f"{size}_{max_tile}_{optimizer}.pt")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            print(f"| {size} | {max_tile} | failed: {proc.stderr[-300:]!r} |", flush=True)
            continue
        r = json.loads(line[-1][7:])
        rows.append(r)
        print(
            f"| {r['size']} | {max_tile or 'untiled'} | {r['tiles']} | {optimizer} | {r['steps']} | "
            f"{r['peak_rss_mb']:.0f} | {r['s_per_step']:.1f} | {r['s_per_mp_step']:.1f} |",
            flush=True,
        )


def seam_score(image: torch.Tensor, tiles: list[tiling.Tile]) -> float:
    """Mean |finite difference| across the tiles' core borders / the mean everywhere else."""
    img = image[0].double()
    h, w = img.shape[-2:]
    dy = (img[:, 1:, :] - img[:, :-1, :]).abs().mean(0)  # [h-1, w]: between rows r and r+1
    dx = (img[:, :, 1:] - img[:, :, :-1]).abs().mean(0)  # [h, w-1]
    rows = sorted({t.core[0] for t in tiles if t.core[0] > 0})
    cols = sorted({t.core[2] for t in tiles if t.core[2] > 0})
    my = torch.zeros_like(dy, dtype=torch.bool)
    mx = torch.zeros_like(dx, dtype=torch.bool)
    for r in rows:
        my[r - 1, :] = True
    for c in cols:
        mx[:, c - 1] = True
    border = torch.cat([dy[my], dx[mx]]).mean()
    other = torch.cat([dy[~my], dx[~mx]]).mean()
    return float(border / other)


def quality(args) -> None:
    size, steps = args.size, args.steps
    content, style = inputs(size)
    coarse_cfg = config(size // 2, 10**12, args.coarse_steps, "lbfgs")
    coarse = stylize_tensors(content, [style], coarse_cfg).image
    results = {}
    for name, max_tile, optimizer in (
        ("untiled Adam", 0, "adam"),
        ("tiled Adam", args.max_tile, "adam"),
        ("untiled L-BFGS", 0, "lbfgs"),
    ):
        results[name] = run(size, max_tile, steps, optimizer, init=coarse)
        print(name, f"{results[name]['s_per_step']:.1f} s/step", flush=True)
    h, w = fit_size(*content.shape[-2:], size)
    tiles = tiling.plan(
        h, w, args.max_tile, *tiling.halo(pipelines.load("default").style_layers + ("relu4_2",))
    )
    scorer = Scorer(content, style, weights_spec="random", size=(h, w))
    tiled, untiled = results["tiled Adam"]["image"], results["untiled Adam"]["image"]
    print(f"\n{size} px ({w}x{h}), tiles {len(tiles)} at max_tile_pixels={args.max_tile}, {steps} steps from one "
          f"{size // 2} px L-BFGS result ({args.coarse_steps} steps)\n")  # fmt: skip
    print("| run | scorer total | content | style | seam score | s/step | s per MP per step |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    base = scorer(untiled)[0].total
    for name, r in results.items():
        s = scorer(r["image"])[0]
        print(
            f"| {name} | {s.total:.6g} ({(s.total - base) / base:+.2%}) | {s.content:.4g} | {s.style:.4g} | "
            f"{seam_score(r['image'], tiles):.4f} | {r['s_per_step']:.1f} | {r['s_per_mp_step']:.1f} |"
        )
    diff = (tiled - untiled).abs()
    print(
        f"\ntiled vs untiled Adam: max |diff| {float(diff.max()):.2e}, mean {float(diff.mean()):.2e} (pixels in [0,1])"
    )
    # a 100% crop around the first interior tile corner: tiled | untiled
    corner = next(t for t in tiles if t.core[0] > 0 and t.core[2] > 0)
    cy, cx = corner.core[0], corner.core[2]
    half = 64
    box = (slice(max(0, cy - half), cy + half), slice(max(0, cx - half), cx + half))
    crops = [r[0][:, box[0], box[1]] for r in (tiled, untiled)]
    gap = torch.ones(3, crops[0].shape[1], 4)
    strip = torch.cat([crops[0], gap, crops[1]], dim=2)
    from PIL import Image

    path = ROOT / "benchmarks" / f"tiling_corner_{size}.png"
    arr = (strip.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(arr).save(path)
    print(f"crop: {path.relative_to(ROOT)} (tiled | untiled), corner at x={cx}, y={cy}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--size", type=int, default=1024)
    q.add_argument("--steps", type=int, default=30)
    q.add_argument("--coarse-steps", type=int, default=30)
    q.add_argument("--max-tile", type=int, default=262144)
    m = sub.add_parser("memory")
    m.add_argument("--runs", default="512:0,1024:262144,2048:262144,4096:262144")
    m.add_argument("--steps", type=int, default=2)
    m.add_argument("--optimizer", default="adam")
    m.add_argument("--save-dir", default="", help="keep each result as SIZE_MAXTILE_OPT.pt here")
    c = sub.add_parser("child")
    c.add_argument("--size", type=int)
    c.add_argument("--max-tile", type=int)
    c.add_argument("--steps", type=int)
    c.add_argument("--optimizer")
    c.add_argument("--save", default="", help="write the result tensor here (.pt)")
    args = parser.parse_args()
    {"quality": quality, "memory": memory, "child": child}[args.cmd](args)


if __name__ == "__main__":
    main()
