"""stylebatch side by side with `pystiche` 1.0.1 and `neural-style` 0.5.7, in one run.

Same device, same size, same step count, same (seeded, random) VGG-19 weights, same
content and style files, same objective as far as each peer can express it (below), every
output scored by one fp32 scorer (`stylebatch.engine.scorer`, the paper's losses). Reports ms per
step and time-to-equal-loss, and appends the table to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/peers.py --device cpu --sizes 128,256 --steps 40 --every 5

Peers live in their own virtualenv, benchmarks/_work/peers-venv (gitignored), built from the
interpreter of .venv with a .pth line that reuses .venv's torch/torchvision (same build, no
second 2 GB download); pystiche and neural-style are pip-installed there with --no-deps
(their only other dependency, tqdm, is installed too).

Objective (the scorer's): alpha/2 sum (F - P)^2 at relu4_2 + beta sum_l 1/5 E_l, alpha = 1,
beta = 1e3, max pooling, content init, L-BFGS (history 100, lr 1, one evaluation per step).
- stylebatch: `normalize="paper"`, one scale: exactly the scorer's objective.
- pystiche: FeatureReconstructionLoss (a mean) weighted alpha N M / 2, GramLoss (normalised
  Gram, mean) weighted beta / 4 with layer weights 1/5: exactly the scorer's objective.
- neural-style: one style weight for all layers (its Gram is divided by N M and its MSE by
  N^2), so per layer it weights E_l by beta N_l^2 / 20 with N_l^2 replaced by the geometric
  mean over the five layers: the style layers are weighted differently from the paper.
  It reads caffe-style weights (BGR, 0-255, mean subtracted): the same random VGG-19 is
  converted by folding the input normalisation into conv1_1 (exact but for the zero padding
  at the border, whose value differs by < 1% of a pixel's range).
Time-to-equal-loss: the peer's scorer loss after all its steps is the target; stylebatch's
time is the first of its snapshots at or below it (snapshots every --every steps) times its
ms/step; the peer's time is its steps times its ms/step. Set-up time is excluded for all.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work"
VENV = WORK / "peers-venv"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
PEERS = ("pystiche==1.0.1", "neural-style==0.5.7", "tqdm")
ALPHA, BETA = 1.0, 1e3
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
STYLE_CHANNELS = (64, 128, 256, 512, 512)


def setup_venv() -> Path:
    """Create the peers' virtualenv once; returns its python.

    The venv gets a .pth line to the site-packages holding this interpreter's torch, so it
    runs the very same torch build. Wheels in benchmarks/_work/wheels (pystiche, neural-style,
    tqdm) are used without an index when present: carry that folder to a machine without
    internet access.
    """
    import torch

    python = VENV / "bin" / "python"
    marker = VENV / ".stylebatch-ready"
    if marker.exists():
        return python
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(sys.base_prefix) / "bin" / f"python{version}"
    subprocess.run([str(base), "-m", "venv", str(VENV)], check=True)
    site = VENV / "lib" / f"python{version}" / "site-packages"
    torch_site = Path(torch.__file__).resolve().parents[1]
    # reuse this interpreter's torch/torchvision/pillow, and stylebatch itself for the scorer
    (site / "stylebatch_main.pth").write_text(f"{torch_site}\n{ROOT}\n")
    wheels = WORK / "wheels"
    source = ["--no-index", "--find-links", str(wheels)] if wheels.is_dir() else []
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", *source, *PEERS], check=True)
    subprocess.run([str(python), "-c", PYSTICHE_IMPORT + "import neural_style.loader"], check=True)
    marker.write_text("ok\n")
    return python


PYSTICHE_IMPORT = """
import sys, torchvision.models.alexnet, torchvision.models.vgg
# pystiche 1.0.1 reads model_urls, which torchvision removed: put them back (never fetched)
sys.modules["torchvision.models.alexnet"].model_urls = {"alexnet": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"}
sys.modules["torchvision.models.vgg"].model_urls = {a: f"https://download.pytorch.org/models/{a}.pth" for a in ("vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")}
import pystiche
"""


# -- inputs --------------------------------------------------------------------------------


def prepare(size: int, folder: Path) -> dict[str, Path]:
    """Content and style PNGs of size x size, the random VGG-19 in torchvision and caffe form."""
    import numpy as np
    import torch
    from PIL import Image

    from stylebatch import weights

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    photo = np.stack([0.5 + 0.5 * np.sin(x * 9), y, 0.5 + 0.5 * np.cos((x + y) * 7)], -1)
    for _ in range(6):
        cx, cy, r = rng.random(2), rng.random(2)[0], 0.05 + 0.1 * rng.random()
        photo[(x - cx[0]) ** 2 + (y - cy) ** 2 < r**2] = rng.random(3)
    content = folder / "content.png"
    Image.fromarray((photo * 255).astype(np.uint8)).save(content)
    style = folder / "style.png"
    starry = ROOT.parent / "shared" / "data" / "styles" / "starry_night.jpg"
    if starry.exists():
        img = Image.open(starry).convert("RGB")
        side = min(img.size)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        img.crop((left, top, left + side, top + side)).resize((size, size), Image.LANCZOS).save(style)
    else:
        stripes = (np.sin((x + y) * size / 3.0) > 0).astype(np.float32)
        img = np.stack([stripes, 0.2 + 0.6 * (1 - stripes), 0.9 * stripes], -1)
        Image.fromarray((img * 255).astype(np.uint8)).save(style)
    torchvision_file = folder.parent / "vgg19-random-torchvision.pth"
    caffe_file = folder.parent / "vgg19-random-caffe.pth"  # neural-style needs "vgg" and "19"
    if not caffe_file.exists():
        weights.export(torchvision_file, "random")
        state = torch.load(torchvision_file, weights_only=True)
        torch.save(caffe_weights(state), caffe_file)
    return {"content": content, "style": style, "torchvision": torchvision_file, "caffe": caffe_file}


def caffe_weights(state: dict) -> dict:
    """Fold torchvision's input normalisation into conv1_1 for caffe input (BGR, 0-255, -mean)."""
    import torch

    mean = torch.tensor([0.485, 0.456, 0.406])
    std = torch.tensor([0.229, 0.224, 0.225])
    caffe_mean_rgb = torch.tensor([123.68, 116.779, 103.939])
    out = {k: v.clone() for k, v in state.items()}
    w, b = state["features.0.weight"], state["features.0.bias"]
    # normalised = b_caffe / (256 std) + (caffe_mean / 256 - mean) / std, per RGB channel
    offset = (caffe_mean_rgb / 256 - mean) / std
    out["features.0.bias"] = b + (w.sum((2, 3)) * offset).sum(1)
    out["features.0.weight"] = (w / (256 * std).view(1, 3, 1, 1)).flip(1)  # RGB -> BGR
    return out


# -- the runs ------------------------------------------------------------------------------

OURS = """
import json, sys, time, torch
from PIL import Image
from stylebatch.config import StyleConfig
from stylebatch.engine import stylize_tensors
from stylebatch.images import pil_to_tensor
a = json.loads(sys.argv[1])
content = pil_to_tensor(Image.open(a["content"]).convert("RGB"))
style = pil_to_tensor(Image.open(a["style"]).convert("RGB"))
cfg = StyleConfig(size=a["size"], scales=1, steps=a["steps"], normalize="paper", content_weight=1.0,
                  style_weight=1e3, pooling="max", optimizer="lbfgs", lbfgs_history=100, init="content",
                  weights=a["weights"], device=a["device"], progress_every=a["every"], **a["extra"])
snaps = []
def cb(info):
    snaps.append((info.step, time.perf_counter(), info.image.detach().float().cpu().clone()))
stylize_tensors(content, [style], cfg, callback=cb)
torch.save(snaps, a["out"])
"""

PYSTICHE = (
    PYSTICHE_IMPORT
    + """
import json, time, torch
from PIL import Image
from pystiche import enc, loss, optim
from torchvision.transforms.functional import to_tensor
a = json.loads(sys.argv[1])
device = torch.device(a["device"])
mle = enc.vgg19_multi_layer_encoder(pretrained=False)
state = torch.load(a["weights"], weights_only=True)
mle.load_state_dict(state)  # its own key map: torchvision names in
mle = mle.to(device)
content = to_tensor(Image.open(a["content"]).convert("RGB")).unsqueeze(0).to(device)
style = to_tensor(Image.open(a["style"]).convert("RGB")).unsqueeze(0).to(device)
n, m = 512, (content.shape[-2] // 8) * (content.shape[-1] // 8)
content_loss = loss.FeatureReconstructionLoss(mle.extract_encoder("relu4_2"), score_weight=a["alpha"] * n * m / 2)
style_loss = loss.MultiLayerEncodingLoss(mle, list(a["layers"]), lambda e, w: loss.GramLoss(e, score_weight=w),
                                         layer_weights=[0.2] * 5, score_weight=a["beta"] / 4)
criterion = loss.PerceptualLoss(content_loss, style_loss).to(device)
criterion.set_content_image(content)
criterion.set_style_image(style)
image = content.clone()
opt = optim.default_image_optimizer(image)
snaps = []
for done in range(a["every"], a["steps"] + 1, a["every"]):
    optim.image_optimization(image, criterion, opt, num_steps=a["every"], quiet=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    snaps.append((done, time.perf_counter(), image.detach().cpu().clone()))
torch.save(snaps, a["out"])
"""
)


def run_ours(paths: dict, size: int, args: argparse.Namespace, out: Path, extra: dict) -> list:
    spec = dict(
        content=str(paths["content"]), style=str(paths["style"]), size=size, steps=args.steps,
        every=args.every, device=args.device, weights=str(paths["torchvision"]), out=str(out), extra=extra,
    )  # fmt: skip
    subprocess.run([sys.executable, "-c", OURS, json.dumps(spec)], check=True, env=_env())
    import torch

    return [(s, t, img) for s, t, img in torch.load(out, weights_only=False)]


def run_pystiche(python: Path, paths: dict, size: int, args: argparse.Namespace, out: Path) -> list:
    spec = dict(
        content=str(paths["content"]), style=str(paths["style"]), steps=args.steps, every=args.every,
        device=args.device, weights=str(paths["torchvision"]), out=str(out), alpha=ALPHA, beta=BETA,
        layers=STYLE_LAYERS,
    )  # fmt: skip
    subprocess.run([str(python), "-c", PYSTICHE, json.dumps(spec)], check=True, env=_env())
    import torch

    return torch.load(out, weights_only=False)


def neural_style_weights(size: int, alpha: float = ALPHA, beta: float = BETA) -> tuple[float, float]:
    m4 = (size // 8) ** 2
    content = alpha * 512 * m4 / 2
    n2 = math.exp(sum(math.log(c * c) for c in STYLE_CHANNELS) / len(STYLE_CHANNELS))
    return content, beta * n2 / 20


def run_neural_style(python: Path, paths: dict, size: int, args: argparse.Namespace, folder: Path) -> list:
    from PIL import Image
    from torchvision.transforms.functional import to_tensor

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    cw, sw = neural_style_weights(size)
    cmd = [
        str(python), "-c", "from neural_style.neural_style import main; main()", "-content_image", str(paths["content"]),
        "-style_image", str(paths["style"]), "-image_size", str(size), "-model_file", str(paths["caffe"]),
        "-disable_check", "-content_weight", repr(cw), "-style_weight", repr(sw), "-tv_weight", "0",
        "-num_iterations", str(args.steps), "-init", "image", "-optimizer", "lbfgs", "-pooling", "max",
        "-print_iter", "0", "-save_iter", str(args.every), "-seed", "0",
        "-output_image", str(folder / "out.png"),
    ]  # fmt: skip
    cmd += (
        ["-gpu", "0", "-backend", "cudnn", "-cudnn_autotune"]
        if args.device.startswith("cuda")
        else ["-gpu", "c"]
    )
    subprocess.run(cmd, check=True, env=_env(), stdout=subprocess.DEVNULL)
    snaps = []
    for step in range(args.every, args.steps + 1, args.every):
        path = folder / ("out.png" if step == args.steps else f"out_{step}.png")
        snaps.append((step, path.stat().st_mtime, to_tensor(Image.open(path).convert("RGB")).unsqueeze(0)))
    return snaps


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("STYLEBATCH_OFFLINE", "1")
    return env


# -- scoring and the table -----------------------------------------------------------------


def analyse(snaps: list, scorer) -> dict:
    """ms/step from snapshot times (set-up excluded) and the scorer's loss of every snapshot.

    `best` is the fastest interval between snapshots: on a shared machine, the least
    disturbed stretch is the best estimate of what the implementation itself costs.
    """
    steps = [s for s, _, _ in snaps]
    times = [t for _, t, _ in snaps]
    ms = (times[-1] - times[0]) / (steps[-1] - steps[0]) * 1e3
    intervals = [(times[i + 1] - times[i]) / (steps[i + 1] - steps[i]) * 1e3 for i in range(len(steps) - 1)]
    # float iterates where the implementation gives them (stylebatch, pystiche); neural-style
    # only writes 8-bit PNGs. Rounding to 8 bits moves the scorer loss by more than tens of
    # L-BFGS steps do at these sizes, so it must not be applied to the others as well.
    losses = [scorer(img.clamp(0, 1))[0].total for _, _, img in snaps]
    return {"ms": ms, "best": min(intervals), "steps": steps, "losses": losses}


def steps_to_reach(result: dict, target: float) -> int | None:
    for step, value in zip(result["steps"], result["losses"], strict=True):
        if value <= target:
            return step
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", default="128,256")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds: ours, peers, ours, ...")
    parser.add_argument("--note", default="", help="a line for RESULTS.md (e.g. machine load)")
    import quality_race  # the time-to-equal-loss table (imports this module)

    quality_race.add_arguments(parser)
    args = parser.parse_args()
    if args.race:
        quality_race.main(args)
        return
    if args.steps % args.every:
        parser.error("--steps must be a multiple of --every")

    import torch
    from PIL import Image

    from stylebatch.engine import bench
    from stylebatch.engine.scorer import Scorer
    from stylebatch.images import pil_to_tensor

    python = setup_venv()
    extra_fast = {} if args.device == "cpu" else {"precision": "bf16", "channels_last": "on"}
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        folder = WORK / f"peers-{size}"
        paths = prepare(size, folder)
        content = pil_to_tensor(Image.open(paths["content"]).convert("RGB"))
        style = pil_to_tensor(Image.open(paths["style"]).convert("RGB"))
        scorer = Scorer(content, style, weights_spec=str(paths["torchvision"]), style_weight=BETA)
        runs: dict[str, list[dict]] = {}
        for _ in range(args.repeats):  # interleaved: a burst of load hits every implementation
            kinds = [("stylebatch fp32", partial(run_ours, paths, size, args, folder / "ours.pt", {}))]
            if extra_fast:
                fast = partial(run_ours, paths, size, args, folder / "fast.pt", extra_fast)
                kinds.append(("stylebatch bf16", fast))
            kinds += [
                ("pystiche", partial(run_pystiche, python, paths, size, args, folder / "pystiche.pt")),
                ("neural-style", partial(run_neural_style, python, paths, size, args, folder / "ns")),
            ]
            for name, fn in kinds:
                runs.setdefault(name, []).append(analyse(fn(), scorer))
                last = runs[name][-1]
                line = f"{size}px {name}: {last['ms']:.1f} ms/step (best stretch {last['best']:.1f})"
                print(f"{line}, loss {last['losses'][-1]:.4g}", flush=True)
        ours = runs["stylebatch fp32"]
        ours_ms = min(r["best"] for r in ours)
        init = scorer(content)[0].total  # every run starts from the content image
        for name, results in runs.items():
            ms = min(r["best"] for r in results)
            final = statistics.median(r["losses"][-1] for r in results)
            reach = [steps_to_reach(o, final) for o in ours]
            ours_steps = None if None in reach else max(reach)
            ratio = None if ours_steps is None else (args.steps * ms) / (ours_steps * ours_ms)
            if name == "stylebatch fp32":
                ours_steps, ratio = args.steps, 1.0
            elif final >= init:
                ours_steps, ratio = 0, None  # the peer ended above the starting point: no ratio
            rows.append(dict(size=size, impl=name, ms=ms, loss=final, per_step=ms / ours_ms,
                             ours_steps=ours_steps, to_loss=ratio, all_ms=[r["ms"] for r in results]))  # fmt: skip
        table = _table([r for r in rows if r["size"] == size], args)  # each size as soon as it is done
        print(table)
        _append(table, args, bench.describe_device(torch.device(args.device)))


def _table(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "| size | implementation | ms/step (best interval) | whole-run ms/step, each run | final scorer loss | "
        "per-step ratio (impl / ours) | ours: steps to its loss | time-to-equal-loss ratio |",
        "|---:|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        to_loss = "not reached" if r["to_loss"] is None else f"{r['to_loss']:.2f}x"
        if r["ours_steps"] == 0:
            to_loss = "n/a (ended above the content init's loss)"
        elif r["ours_steps"] == args.every and r["impl"] != "stylebatch fp32":
            to_loss = ">= " + to_loss  # reached by the first snapshot
        ours_steps = "-" if r["ours_steps"] is None else str(r["ours_steps"])
        runs = ", ".join(f"{m:.0f}" for m in r["all_ms"])
        lines.append(
            f"| {r['size']} | {r['impl']} | {r['ms']:.1f} | {runs} | {r['loss']:.5g} | "
            f"{r['per_step']:.2f}x | {ours_steps} | {to_loss} |"
        )
    return "\n".join(lines)


def _append(table: str, args: argparse.Namespace, device: str) -> None:
    import torch

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/peers.py " + " ".join(sys.argv[1:])
    text = (
        f"\n## Peers: stylebatch vs pystiche 1.0.1 vs neural-style 0.5.7 ({now})\n\n"
        f"- device: {device}; torch {torch.__version__}; python {platform.python_version()}\n"
        f"- command: `{command}`\n"
        f"- {args.steps} L-BFGS steps, content init, random VGG-19 (seed 0) for all, scored by "
        "stylebatch.engine.scorer (paper losses, fp32, alpha/beta = 1e-3; float iterates, neural-style 8-bit PNGs)\n"
        "- ms/step = the fastest stretch between two snapshots over all runs of an implementation (the "
        "least disturbed by other load); whole-run averages are listed to show the noise\n"
        "- ratios > 1 mean stylebatch is faster; time-to-equal-loss = peer's steps x ms/step / "
        "(stylebatch's steps to the peer's final scorer loss x its ms/step)\n"
        + (f"- {args.note}\n" if args.note else "")
        + f"\n{table}\n"
    )
    with open(RESULTS, "a", encoding="utf-8") as f:
        f.write(text)
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    t0 = time.time()
    main()
    print(f"total {time.time() - t0:.0f} s")
