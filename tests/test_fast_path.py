"""The fast-path switches change float rounding only: bf16 autocast, channels_last, compile."""

from __future__ import annotations

import pytest
import torch

from stylebatch import engine
from stylebatch.config import StyleConfig
from stylebatch.engine import stylize_tensors

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


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_bf16_channels_last_match_fp32(images, optimizer):
    plain = _run(images, optimizer=optimizer, precision="fp32", channels_last="off")
    fast = _run(images, optimizer=optimizer, precision="bf16", channels_last="on")
    for key in ("total", "content", "style"):
        assert fast.losses[key] == pytest.approx(plain.losses[key], rel=0.05), key
    assert (fast.image - plain.image).abs().mean() < 0.02


def test_channels_last_alone_is_float_rounding(images):
    plain = _run(images, channels_last="off")
    cl = _run(images, channels_last="on")
    assert cl.losses["total"] == pytest.approx(plain.losses["total"], rel=1e-3)


def test_compile_failure_falls_back_to_eager(images, monkeypatch):
    class Broken:
        def __call__(self, *args, **kwargs):
            raise RuntimeError("no compiler toolchain")

    monkeypatch.setattr(torch, "compile", lambda model, **kw: Broken())
    engine._EXTRACTORS.clear()
    try:
        plain = _run(images)
        compiled = _run(images, compile=True)
    finally:
        engine._EXTRACTORS.clear()
    assert compiled.losses["total"] == pytest.approx(plain.losses["total"], rel=1e-5)


def test_step_info_carries_the_current_image(images):
    seen = []
    content, style = images
    cfg = StyleConfig(**BASE)
    stylize_tensors(content, [style], cfg, callback=lambda info: seen.append(info))
    assert seen and seen[-1].image is not None and seen[-1].image.shape == content.shape
    assert seen[-1].per_image == [pytest.approx(seen[-1].losses["total"])]
