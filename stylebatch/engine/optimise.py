"""One scale's optimisation: L-BFGS, or projected Adam with iterate averaging; early stopping."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..config import StyleConfig
from .datatypes import Callback, ScaleState, StepDone, StepInfo

Objective = Callable[[Tensor], dict[str, Tensor]]


@dataclass
class Scale:
    """One scale of the pyramid, as its optimisation sees it."""

    cfg: StyleConfig  # this scale's settings (a tiled scale runs Adam: tiles.level_config)
    steps: int
    index: int  # 0 = coarsest
    scales: int
    size: tuple[int, int]  # (h, w)


@dataclass
class Run:
    """What all scales of one run share: step counts, the clock, the history, the callback."""

    total_steps: int
    start: float
    callback: Callback | None = None
    done: int = 0  # steps done so far, all scales together
    history: list[dict[str, float]] = field(default_factory=list)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def _optimizer(x: Tensor, cfg: StyleConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "lbfgs":
        return torch.optim.LBFGS(
            [x],
            lr=cfg.lr or 1.0,
            max_iter=1,
            history_size=cfg.lbfgs_history,
            tolerance_grad=0.0,
            tolerance_change=0.0,
        )
    # fused: one kernel for the whole update on CUDA (no per-step Python loop over ops)
    return torch.optim.Adam([x], lr=cfg.lr or 0.02, fused=x.is_cuda or None)


def _read(terms: dict[str, Tensor]) -> dict[str, float]:
    """The losses as floats, summed over the batch (one host sync per term)."""
    return {k: float(sum(v.detach().float().reshape(-1).cpu().tolist())) for k, v in terms.items()}


def optimise(
    x0: Tensor,
    objective: Objective,
    scale: Scale,
    run: Run,
    *,
    partial: ScaleState | None = None,
    on_step: StepDone | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Optimise `x0` at one scale; returns (image in [0, 1], its final losses). Appends to
    `run.history` every `progress_every` steps and advances `run.done`.

    `partial` (a state `on_step` reported) goes on from there instead of `x0`, exactly as the
    interrupted run would have; `on_step` receives the live state after every step.
    """
    cfg = scale.cfg
    source = partial.image if partial is not None else x0
    # contiguous: L-BFGS views the gradient flat, and resized inputs can have odd strides
    x = source.detach().to(x0.device).clone(memory_format=torch.contiguous_format).requires_grad_(True)
    opt = _optimizer(x, cfg)
    average = x.detach().clone() if (cfg.optimizer == "adam" and cfg.average) else None
    terms: dict[str, Tensor] = {}
    unit: Tensor | None = None  # L-BFGS: the scale's first loss
    checkpoints: list[tuple[int, float]] = []
    first = 1
    if partial is not None:
        opt.load_state_dict(partial.optimizer)
        if average is not None and partial.average is not None:
            average = partial.average.detach().to(x.device).clone()
        unit = None if partial.unit is None else partial.unit.to(x.device)
        checkpoints = list(partial.checkpoints)
        first = partial.step + 1

    def closure() -> Tensor:
        nonlocal terms, unit
        opt.zero_grad(set_to_none=True)
        terms = objective(x)
        total = terms["total"].sum()
        if cfg.optimizer == "lbfgs":
            # torch's L-BFGS drops every curvature pair with s.y <= 1e-10, an absolute threshold:
            # at the paper's loss values (1e-3..1e-6) it then creeps along as gradient descent
            # (measured: 100+ steps stuck after an upscale). It sees the loss in units of the
            # scale's first value instead (same minimiser); the reported terms are unscaled.
            if unit is None:
                unit = total.detach().clamp_min(1e-30)
            total = total / unit
        total.backward()
        return total

    losses: dict[str, float] = {}
    steps_run = scale.steps
    for step in range(first, scale.steps + 1):
        opt.step(closure)
        if average is not None:
            _average(x, average, step, cfg)
        if step % cfg.progress_every == 0 or step == scale.steps:
            losses = _read(terms)  # one host sync per progress_every steps
            _report(losses, step, scale, run, average if average is not None else x.detach())
            checkpoints.append((step, losses["total"]))
            if cfg.early_stop > 0 and _converged(checkpoints, cfg):
                steps_run = step
                break
        if on_step is not None and step < scale.steps:
            on_step(ScaleState(scale.index, step, x.detach(), opt.state_dict(), average, unit, checkpoints))
    run.done += steps_run - (first - 1)  # after a resume: the steps this run made
    if not losses:  # zero steps: report the losses of the initial image
        with torch.no_grad():
            losses = _read(objective(x))
    image = average if average is not None else x.detach()
    return image.clamp(0, 1), losses


def _average(x: Tensor, average: Tensor, step: int, cfg: StyleConfig) -> None:
    """Projected Adam: pixels stay in range; iterate averaging (EMA) with a bias correction
    so early steps are not damped."""
    with torch.no_grad():
        x.clamp_(0, 1)
        decay = min(cfg.average_decay, (1 + step) / (10 + step))
        average.mul_(decay).add_(x.detach(), alpha=1 - decay)


def _report(losses: dict[str, float], step: int, scale: Scale, run: Run, image: Tensor) -> None:
    """Record the losses after `step` of this scale in the history and tell the callback."""
    if not math.isfinite(losses["total"]):
        raise FloatingPointError(f"loss became {losses['total']} at step {run.done + step}")
    run.history.append({"step": run.done + step, "scale": scale.index, **losses})
    if run.callback is not None:
        info = StepInfo(
            run.done + step,
            run.total_steps,
            scale.index,
            scale.scales,
            scale.size,
            losses,
            run.elapsed(),
            image,
        )
        run.callback(info)


def _converged(checkpoints: list[tuple[int, float]], cfg: StyleConfig) -> bool:
    """Relative loss change over the last `early_stop_window` steps below `early_stop`."""
    step, loss = checkpoints[-1]
    earlier = [(s, v) for s, v in checkpoints if s <= step - cfg.early_stop_window]
    if not earlier:
        return False
    previous = earlier[-1][1]
    return abs(previous - loss) <= cfg.early_stop * max(abs(loss), 1e-12)
