"""Time to equal quality: seconds each implementation needs to reach the loss a peer reaches.

`python benchmarks/peers.py --race texture,heavy --sizes 256` runs this (peers.py holds the
peers' virtualenv, inputs and weights). For every objective and size:

1. pystiche 1.0.1 and neural-style 0.5.7 each run `--peer-steps` (500) L-BFGS steps with their
   own default init (pystiche: content for style transfer, uniform noise for texture, as in
   its examples; neural-style: `-init random`), snapshots every `--every` steps.
2. Every snapshot is scored by one fp32 scorer (stylebatch.engine.scorer, the paper's losses
   with the objective's alpha and beta, the same random VGG-19). A peer's final score is a
   target.
3. stylebatch runs its recipe (coarse-to-fine from the objective's init, the same objective
   at every scale) until its score is at or below the lowest target, scoring itself every
   `--every` final-scale steps; scoring time is taken off its clock.
4. Each implementation's seconds to each target: from the start of optimisation (model
   loading excluded; stylebatch's clock includes its style analysis at every scale) to the
   first snapshot at or below the target.

Objectives (alpha on the relu4_2 content term, beta on the mean of the five E_l):
- texture: alpha 0, beta 1e3, noise init: texture synthesis, where random filters do real work.
- heavy: alpha 1, beta = 1e6 (size / 128)^2: at 128 px the content image's own loss is 12.7x
  the loss reached after 300 L-BFGS steps (measured 2026-11-25); beta grows with the pixel
  count because the paper's content term is a sum over pixels and E_l is not.
- paper: alpha 1, beta 1e3 (alpha/beta = 1e-3): nearly degenerate under random weights.
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
from dataclasses import dataclass
from pathlib import Path

import peers

OBJECTIVES = ("texture", "heavy", "paper")
# "reached" = within 1% of the target: an L-BFGS run that has stalled creeps by tiny amounts
# for hundreds of steps (pystiche: 0.000762 from step 40 to 500), and that creep is not quality
REACHED = 1.01


@dataclass(frozen=True)
class Objective:
    name: str
    alpha: float
    beta: float
    init: str  # "content" or "noise": what an implementation starts from by default


def objective(name: str, size: int) -> Objective:
    if name == "texture":
        return Objective(name, 0.0, 1e3, "noise")
    if name == "heavy":
        return Objective(name, 1.0, 1e6 * (size / 128) ** 2, "content")
    if name == "paper":
        return Objective(name, 1.0, 1e3, "content")
    raise ValueError(f"unknown objective {name!r}; choose from {', '.join(OBJECTIVES)}")


# -- stylebatch: its recipe, scored as it goes -------------------------------------------------

OURS = """
import json, sys, time, torch
from PIL import Image
from stylebatch.config import StyleConfig
from stylebatch.engine import stylize_tensors
from stylebatch.engine.scorer import Scorer
from stylebatch.images import pil_to_tensor
a = json.loads(sys.argv[1])
torch.set_num_threads(a["threads"])
content = pil_to_tensor(Image.open(a["content"]).convert("RGB"))
style = pil_to_tensor(Image.open(a["style"]).convert("RGB"))
scorer = Scorer(content, style, weights_spec=a["weights"], content_weight=a["alpha"], style_weight=a["beta"])
cfg = StyleConfig(size=a["size"], normalize="paper", content_weight=a["alpha"], style_weight=a["beta"],
                  pooling="max", optimizer="lbfgs", init=a["init"], weights=a["weights"], device="cpu",
                  progress_every=a["every"], **a["recipe"])
stylize_tensors(content, [style], cfg.replace(size=32, scales=1, steps=1))  # loads the model: off the clock
class Reached(Exception):
    pass
snaps, scoring = [], 0.0
def cb(info):
    global scoring
    if info.scale != info.scales - 1 or info.image is None or info.tiles:
        return
    t = time.perf_counter()
    elapsed = t - start - scoring  # scoring is not stylebatch's work
    loss = scorer(info.image.detach().float().clamp(0, 1))[0].total
    scoring += time.perf_counter() - t
    snaps.append((info.step, elapsed, loss))
    if loss <= a["target"] * a["reached"]:
        raise Reached
start = time.perf_counter()
try:
    stylize_tensors(content, [style], cfg, callback=cb)
except Reached:
    pass
print(json.dumps(snaps))
"""

# -- the peers -----------------------------------------------------------------------------

PYSTICHE = (
    peers.PYSTICHE_IMPORT
    + """
import json, time, torch
from PIL import Image
from pystiche import enc, loss, optim
from torchvision.transforms.functional import to_tensor
a = json.loads(sys.argv[1])
torch.set_num_threads(a["threads"])
mle = enc.vgg19_multi_layer_encoder(pretrained=False)
mle.load_state_dict(torch.load(a["weights"], weights_only=True))  # its own key map: torchvision names in
content = to_tensor(Image.open(a["content"]).convert("RGB")).unsqueeze(0)
style = to_tensor(Image.open(a["style"]).convert("RGB")).unsqueeze(0)
style_loss = loss.MultiLayerEncodingLoss(mle, list(a["layers"]), lambda e, w: loss.GramLoss(e, score_weight=w),
                                         layer_weights=[0.2] * 5, score_weight=a["beta"] / 4)
if a["alpha"]:
    n, m = 512, (content.shape[-2] // 8) * (content.shape[-1] // 8)
    content_loss = loss.FeatureReconstructionLoss(mle.extract_encoder("relu4_2"), score_weight=a["alpha"] * n * m / 2)
    criterion = loss.PerceptualLoss(content_loss, style_loss)
    criterion.set_content_image(content)
    criterion.set_style_image(style)
else:
    criterion = style_loss
    criterion.set_target_image(style)
torch.manual_seed(0)
image = content.clone() if a["init"] == "content" else torch.rand_like(content)  # its examples' inits
opt = optim.default_image_optimizer(image)
snaps = []
start = time.perf_counter()
for done in range(a["every"], a["steps"] + 1, a["every"]):
    optim.image_optimization(image, criterion, opt, num_steps=a["every"], quiet=True)
    snaps.append((done, time.perf_counter() - start, image.detach().clone()))
torch.save(snaps, a["out"])
"""
)


def run_pystiche(python: Path, paths: dict, obj: Objective, args: argparse.Namespace, out: Path) -> list:
    spec = dict(
        content=str(paths["content"]), style=str(paths["style"]), steps=args.peer_steps, every=args.every,
        weights=str(paths["torchvision"]), out=str(out), alpha=obj.alpha, beta=obj.beta, init=obj.init,
        layers=peers.STYLE_LAYERS, threads=args.threads,
    )  # fmt: skip
    subprocess.run([str(python), "-c", PYSTICHE, json.dumps(spec)], check=True, env=_env(args))
    import torch

    return torch.load(out, weights_only=False)


def run_neural_style(python: Path, paths: dict, size: int, obj: Objective, args: argparse.Namespace) -> list:
    """neural-style writes 8-bit PNGs every --every steps; times come from their mtimes."""
    from PIL import Image
    from torchvision.transforms.functional import to_tensor

    folder = paths["content"].parent / "ns"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    cw, sw = peers.neural_style_weights(size, obj.alpha, obj.beta)
    cmd = [
        str(python), "-c", "from neural_style.neural_style import main; main()", "-content_image", str(paths["content"]),
        "-style_image", str(paths["style"]), "-image_size", str(size), "-model_file", str(paths["caffe"]),
        "-disable_check", "-content_weight", repr(cw), "-style_weight", repr(sw), "-tv_weight", "0",
        "-num_iterations", str(args.peer_steps), "-init", "random", "-optimizer", "lbfgs", "-pooling", "max",
        "-print_iter", "0", "-save_iter", str(args.every), "-seed", "0", "-gpu", "c",
        "-output_image", str(folder / "out.png"),
    ]  # fmt: skip
    started = time.time()
    subprocess.run(cmd, check=True, env=_env(args), stdout=subprocess.DEVNULL)
    snaps = []
    for step in range(args.every, args.peer_steps + 1, args.every):
        path = folder / ("out.png" if step == args.peer_steps else f"out_{step}.png")
        snaps.append((step, path.stat().st_mtime, to_tensor(Image.open(path).convert("RGB")).unsqueeze(0)))
    # its clock starts one interval before the first snapshot (model loading excluded)
    first_interval = snaps[1][1] - snaps[0][1]
    zero = max(started, snaps[0][1] - first_interval)
    return [(s, t - zero, img) for s, t, img in snaps]


def run_ours(paths: dict, size: int, obj: Objective, target: float, args: argparse.Namespace) -> list:
    spec = dict(
        content=str(paths["content"]), style=str(paths["style"]), size=size, every=args.ours_every,
        weights=str(paths["torchvision"]), alpha=obj.alpha, beta=obj.beta, init=obj.init, target=target,
        recipe=recipe(size, args), threads=args.threads, reached=REACHED,
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", OURS, json.dumps(spec)],
        check=True,
        env=_env(args),
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def recipe(size: int, args: argparse.Namespace) -> dict:
    """stylebatch's side: coarse-to-fine with `--coarse-steps` per coarser scale, then up to
    `--max-steps` at the final size (stopped as soon as the target is reached)."""
    return dict(scales=args.scales, coarse_steps=args.coarse_steps, steps=args.max_steps, lbfgs_history=100)


def _env(args: argparse.Namespace) -> dict:
    env = dict(os.environ, STYLEBATCH_OFFLINE="1", OMP_NUM_THREADS=str(args.threads))
    return env


# -- the table -----------------------------------------------------------------------------


def seconds_to(snaps: list[tuple[int, float, float]], target: float) -> tuple[int, float] | None:
    """(step, seconds) of the first snapshot within 1% of `target` (or below it)."""
    for step, seconds, loss in snaps:
        if loss <= target * REACHED:
            return step, seconds
    return None


def race(size: int, name: str, python: Path, scorer_cls, args: argparse.Namespace) -> list[dict]:
    from PIL import Image

    from stylebatch.images import pil_to_tensor

    obj = objective(name, size)
    folder = peers.WORK / f"race-{size}"
    paths = peers.prepare(size, folder)
    content = pil_to_tensor(Image.open(paths["content"]).convert("RGB"))
    style = pil_to_tensor(Image.open(paths["style"]).convert("RGB"))
    scorer = scorer_cls(
        content,
        style,
        weights_spec=str(paths["torchvision"]),
        content_weight=obj.alpha,
        style_weight=obj.beta,
    )

    def scored(snaps: list) -> list[tuple[int, float, float]]:
        return [(s, t, scorer(img.clamp(0, 1))[0].total) for s, t, img in snaps]

    peer_runs = {
        "pystiche": lambda: run_pystiche(python, paths, obj, args, folder / "pystiche.pt"),
        "neural-style": lambda: run_neural_style(python, paths, size, obj, args),
    }
    runs = {}
    for peer, run in peer_runs.items():
        if peer not in args.peer.split(","):
            continue
        # a peer's scored run is kept, so stylebatch's recipe can be run again against it
        kept = folder / f"{name}-{peer}-{args.peer_steps}x{args.every}-{args.threads}t.json"
        if kept.exists():
            runs[peer] = [tuple(x) for x in json.loads(kept.read_text())]
        else:
            runs[peer] = scored(run())
            kept.write_text(json.dumps(runs[peer]))
        snaps = runs[peer]
        print(f"{size}px {name} {peer}: {snaps[-1][1]:.0f} s, loss {snaps[-1][2]:.5g}", flush=True)
    if args.peers_only:
        return []
    targets = {peer: snaps[-1][2] for peer, snaps in runs.items()}
    runs["stylebatch"] = run_ours(paths, size, obj, min(targets.values()), args)
    print(
        f"{size}px {name} stylebatch: {runs['stylebatch'][-1][1]:.0f} s, loss {runs['stylebatch'][-1][2]:.5g}"
    )
    start_loss = scorer(content)[0].total if obj.init == "content" else None
    rows = []
    for peer, target in targets.items():
        reached = {impl: seconds_to(snaps, target) for impl, snaps in runs.items()}
        rows.append(dict(size=size, objective=obj, target_of=peer, target=target, reached=reached,
                         start_loss=start_loss))  # fmt: skip
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| size | objective (beta) | target: final loss of | target loss | pystiche s (steps) | "
        "neural-style s (steps) | stylebatch s (steps, all scales) | vs pystiche | vs neural-style |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]

    def cell(hit: dict, impl: str) -> str:
        if impl not in hit:
            return "not run"
        return "not reached" if hit[impl] is None else f"{hit[impl][1]:.1f} ({hit[impl][0]})"

    def ratio(hit: dict, peer: str) -> str:
        if peer not in hit:
            return "-"
        if hit["stylebatch"] is None:
            return "not reached"
        return "-" if hit[peer] is None else f"{hit[peer][1] / hit['stylebatch'][1]:.2f}x"

    for r in rows:
        hit = r["reached"]
        lines.append(
            f"| {r['size']} | {r['objective'].name} ({r['objective'].beta:.3g}) | {r['target_of']} | "
            f"{r['target']:.5g} | {cell(hit, 'pystiche')} | {cell(hit, 'neural-style')} | "
            f"{cell(hit, 'stylebatch')} | {ratio(hit, 'pystiche')} | {ratio(hit, 'neural-style')} |"
        )
    return "\n".join(lines)


def append(rows: list[dict], args: argparse.Namespace, device: str) -> None:
    import torch

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    starts = "; ".join(
        f"{r['size']} px {r['objective'].name}: {r['start_loss']:.5g}"
        for r in rows
        if r["target_of"] == "pystiche" and r["start_loss"] is not None
    )
    text = (
        f"\n## Time to equal quality: stylebatch vs pystiche 1.0.1 vs neural-style 0.5.7 ({now})\n\n"
        f"- device: {device}; torch {torch.__version__}; python {platform.python_version()}\n"
        f"- command: `python benchmarks/peers.py {' '.join(sys.argv[1:])}`\n"
        f"- peers: {args.peer_steps} L-BFGS steps, their default init; stylebatch: {args.scales} scales, "
        f"{args.coarse_steps} L-BFGS steps per coarser scale, final scale until the target, fp32\n"
        "- seconds from the start of optimisation to the first snapshot within 1% of the target (or below) "
        f"(snapshots every {args.every} steps for the peers, {args.ours_every} for stylebatch), scored by stylebatch.engine.scorer (fp32, random VGG-19 "
        "seed 0); ratios > 1: stylebatch is faster\n"
        f"- scorer loss of the content image (the content inits' start): {starts or 'n/a'}\n"
        + (f"- {args.note}\n" if args.note else "")
        + f"\n{table(rows)}\n"
    )
    with open(peers.RESULTS, "a", encoding="utf-8") as f:
        f.write(text)
    print(text)


def main(args: argparse.Namespace) -> None:
    import torch

    from stylebatch.engine import bench
    from stylebatch.engine.scorer import Scorer

    torch.set_num_threads(args.threads)
    python = peers.setup_venv()
    for size in [int(s) for s in args.sizes.split(",")]:
        for name in args.race.split(","):
            rows = race(size, name, python, Scorer, args)
            if not rows:
                continue
            print(table(rows), flush=True)
            append(rows, args, bench.describe_device(torch.device("cpu")))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--race", default="", help=f"objectives for the time-to-equal-loss table: {OBJECTIVES}"
    )
    parser.add_argument("--peer-steps", type=int, default=500)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    parser.add_argument("--scales", type=int, default=3)
    parser.add_argument("--coarse-steps", type=int, default=20)
    parser.add_argument(
        "--ours-every", type=int, default=1, help="stylebatch scores every N final-scale steps"
    )
    parser.add_argument("--max-steps", type=int, default=500)
    parser.add_argument("--peers-only", action="store_true", help="run (and keep) the peers' runs, no table")
    parser.add_argument(
        "--peer", default="pystiche,neural-style", help="which peers (not run: absent from the table)"
    )
