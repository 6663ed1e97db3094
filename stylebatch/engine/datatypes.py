"""What the engine takes and gives besides tensors: the video's temporal input, progress
reports and the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class StepInfo:
    """What a progress callback receives every `progress_every` steps (and at each scale's end)."""

    step: int  # steps done so far, all scales together
    total_steps: int  # planned steps, all scales together
    scale: int  # index of the current scale, 0 = coarsest
    scales: int
    size: tuple[int, int]  # (height, width) being optimised
    losses: dict[str, float]  # "total" and one entry per active loss term (terms.py)
    elapsed: float
    # the current result [1, 3, H, W] on the device (the EMA for Adam), not a copy: clone to keep
    image: Tensor | None = None
    # a tiled scale also reports after each tile of a step (tile of tiles; image None then)
    tile: int = 0
    tiles: int = 0
    note: str = ""  # on a tiled scale's first report: how it is tiled (for the terminal)


@dataclass
class Temporal:
    """Video: a warped previous stylised frame and its reliability mask (Ruder et al. 2016)."""

    warped: Tensor  # [1, 3, H, W] in [0, 1]
    mask: Tensor  # [1, 1, H, W], 1 = reliable
    weight: float
    blur: float = 0.0  # sigma (px): pull only the low frequencies (losses.TemporalLoss)


@dataclass
class StyleResult:
    """The stylised image with its losses, history and how it was made."""

    image: Tensor  # [1, 3, H, W] in [0, 1], float32, on the CPU
    losses: dict[str, float]  # final losses of the last scale
    history: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    sizes: list[tuple[int, int]] = field(default_factory=list)
    device: str = "cpu"
    weights: str = ""
    tiling: list[str] = field(default_factory=list)  # how each tiled scale was cut (tiles.describe)
    resumed_after: int | None = None  # index of the checkpointed scale the run started after
    resumed_in: tuple[int, int] | None = None  # resumed inside a scale: (its index, its steps done before)


Callback = Callable[[StepInfo], None]
# a finished scale's result, as `stylize_tensors` reports it (`on_scale`) and resumes from (`resume`)
ScaleDone = Callable[[int, Tensor], None]


@dataclass
class ScaleState:
    """A scale in progress, as `stylize_tensors` reports it after each step (`on_step`) and
    resumes from (`resume`): everything the optimisation needs to go on exactly. The tensors
    are the live ones (on the device): copy before keeping."""

    scale: int  # index of the scale in progress
    step: int  # its steps done
    image: Tensor  # the optimised variable
    optimizer: dict  # torch.optim state_dict (Adam's moments, L-BFGS's history)
    average: Tensor | None = None  # Adam's iterate average
    unit: Tensor | None = None  # L-BFGS: the loss unit (the scale's first loss)
    checkpoints: list[tuple[int, float]] = field(default_factory=list)  # early stopping's record


StepDone = Callable[[ScaleState], None]
