"""The fast-path switches change float rounding only: bf16 autocast, channels_last, compile."""

from __future__ import annotations

import pytest
import torch

from stylebatch.config import StyleConfig
from stylebatch.engine import runtime as engine
from stylebatch.engine import stylize_tensors
from stylebatch.engine.scorer import Scorer

BASE = dict(size=48, scales=1, steps=6, weights="random", device="cpu", progress_every=3)


@pytest.fixture(scope="module")
def images():
    gen = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, 40, 48, generator=gen), torch.rand(1, 3, 48, 48, generator=gen)


def _run(images, **changes):
    content, style = images
    return stylize_tensors(content, [style], StyleConfig(**{**BASE, **changes}))


def test_cpu_defaults_stay_fp32_nchw():
    cfg = StyleConfig(**BASE)
    cpu = torch.device("cpu")
    assert not engine.use_bf16(cfg, cpu) and not engine.use_channels_last(cfg, cpu)
    assert engine.compile_mode(cfg, cpu) is None
    # CUDA graphs are a CUDA-only switch: ignored on the CPU, not an error
    assert engine.compile_mode(cfg.replace(cuda_graphs=True), cpu) is None


# bf16 autocast rounds every convolution to 8 mantissa bits (unit roundoff 2^-8 = 0.0039) on
# any CPU: this one emulates it, CPUs with AMX/AVX512-BF16 run it natively. L-BFGS amplifies
# those roundings along a run (measured: content +30-42% after 6 steps at 48 px on a 2-core
# Xeon, 2026-11-25), so an end-to-end comparison of L-BFGS losses says nothing on a CPU. What
# the fast path claims is that it computes the same objective and gradient up to rounding:
# check exactly that, at one point, and an Adam run end to end under the fixed fp32 scorer.
FAST = dict(precision="bf16", channels_last="on")
PLAIN = dict(precision="fp32", channels_last="off")


def _first_step(images, seed, **switches):
    """Losses at a noise image and the first L-BFGS step from it. torch's L-BFGS scales its
    first step by 1/|g|_1, so the step is the gradient's direction exactly."""
    content, style = images
    cfg = StyleConfig(**{**BASE, "init": "noise", "seed": seed, "optimizer": "lbfgs", **switches})
    x0 = stylize_tensors(content, [style], cfg.replace(steps=0)).image
    one = stylize_tensors(content, [style], cfg.replace(steps=1, progress_every=1))
    return one.losses, (x0 - one.image).flatten()


@pytest.mark.parametrize("seed", [0, 1])
def test_bf16_channels_last_objective_and_gradient_match_fp32(images, seed):
    plain_losses, plain_step = _first_step(images, seed, **PLAIN)
    fast_losses, fast_step = _first_step(images, seed, **FAST)
    # measured over 6 seeds: total within 2.3e-3 relative (< one bf16 ulp), gradient cosine
    # 0.964-0.980; a wrong layout or a bf16 Gram matrix would be far outside these bounds
    assert fast_losses["total"] == pytest.approx(plain_losses["total"], rel=1e-2)
    assert torch.nn.functional.cosine_similarity(fast_step, plain_step, dim=0) > 0.9


def test_bf16_adam_reaches_the_fp32_scorer_loss(images):
    content, style = images
    scorer = Scorer(content, style, weights_spec="random", size=tuple(content.shape[-2:]))
    plain = scorer(_run(images, optimizer="adam", **PLAIN).image)[0].total
    fast = scorer(_run(images, optimizer="adam", **FAST).image)[0].total
    # measured over 4 seeds at 6 steps: 0.2-3.3% apart; the 1% goal is for CUDA (below)
    assert fast == pytest.approx(plain, rel=0.1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the 1% goal is for the CUDA fast path")
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_cuda_fast_path_final_loss_within_1_percent(optimizer):
    gen = torch.Generator().manual_seed(0)
    content, style = torch.rand(1, 3, 256, 256, generator=gen), torch.rand(1, 3, 256, 256, generator=gen)
    scorer = Scorer(content, style, weights_spec="random", device="cuda")
    cfg = StyleConfig(size=256, scales=1, steps=100, weights="random", device="cuda", optimizer=optimizer)
    plain = scorer(stylize_tensors(content, [style], cfg.replace(**PLAIN)).image)[0].total
    fast = scorer(stylize_tensors(content, [style], cfg.replace(**FAST)).image)[0].total
    assert fast == pytest.approx(plain, rel=0.01)


def test_channels_last_alone_is_float_rounding(images):
    plain = _run(images, channels_last="off")
    cl = _run(images, channels_last="on")
    assert cl.losses["total"] == pytest.approx(plain.losses["total"], rel=1e-3)


def test_compile_failure_falls_back_to_eager(images, monkeypatch):
    calls = []

    class Broken:
        def __call__(self, *args, **kwargs):
            calls.append(args[0].shape)
            raise RuntimeError("no compiler toolchain")

    monkeypatch.setattr(torch, "compile", lambda model, **kw: Broken())
    engine._EXTRACTORS.clear()
    try:
        plain = _run(images)
        compiled = _run(images, compile=True)
        extractor = engine.get_extractor(StyleConfig(**BASE, compile=True), torch.device("cpu"))
    finally:
        engine._EXTRACTORS.clear()
    # the compiled model was called once, failed, and every later call ran eager
    assert len(calls) == 1 and extractor.failed == "RuntimeError: no compiler toolchain"
    assert compiled.losses["total"] == pytest.approx(plain.losses["total"], rel=1e-5)


def test_step_info_carries_the_current_image(images):
    seen = []
    content, style = images
    cfg = StyleConfig(**BASE)
    result = stylize_tensors(content, [style], cfg, callback=lambda info: seen.append(info))
    assert seen and seen[-1].image is not None and seen[-1].image.shape == content.shape
    # the last report's image is the result (clamped to [0, 1] on the way out)
    assert torch.equal(seen[-1].image.clamp(0, 1).cpu(), result.image)
    assert seen[-1].losses == result.losses
