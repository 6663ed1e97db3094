"""A batch of B images equals B separate runs (Adam); out-of-memory retries smaller."""

from __future__ import annotations

import pytest
import torch

from stylebatch.config import StyleConfig
from stylebatch.engine.core import batching, stylize_tensors

ADAM = dict(size=32, scales=1, steps=12, weights="random", device="cpu", progress_every=2, optimizer="adam")


@pytest.fixture(scope="module")
def images():
    gen = torch.Generator().manual_seed(0)
    contents = torch.rand(3, 3, 32, 32, generator=gen)
    contents[1] = 0.45 + 0.1 * contents[1]  # low contrast
    contents[2] *= 0.2
    return contents, torch.rand(1, 3, 32, 32, generator=gen)


@pytest.mark.parametrize("init", ["content", "noise"])
def test_adam_batch_equals_separate_runs(images, init):
    # Exact in exact arithmetic. Batched convolutions round differently (~1e-7), and Adam's
    # m / sqrt(v) amplifies that over many steps (as any 1e-7 input change does), so a short
    # run compares with a tight tolerance rather than bit for bit.
    contents, style = images
    cfg = StyleConfig(**{**ADAM, "steps": 6}, init=init)
    alone = [stylize_tensors(c, [style], cfg) for c in contents]
    results = batching.stylize_batch(list(contents), [style], cfg, batch_size=3)
    assert len(results) == 3
    for batched, single in zip(results, alone, strict=True):
        assert batched.image.shape == (1, 3, 32, 32)
        assert batched.losses["total"] == pytest.approx(single.losses["total"], rel=1e-3)
        diff = (batched.image - single.image).abs()
        assert diff.mean() < 1e-3 and diff.max() < 1e-2


def test_early_stop_is_decided_per_image(images):
    contents, style = images
    flat = contents.clone()
    flat[1] = 0.5  # a flat image: its loss is flat from the start
    cfg = StyleConfig(**ADAM, early_stop=0.02, early_stop_window=4)
    alone = stylize_tensors(flat[1], [style], cfg)
    assert alone.steps < cfg.steps
    (result,) = [stylize_tensors(flat, [style], cfg)]
    assert result.steps == cfg.steps  # the others ran on
    history = result.per_image_history
    frozen = [h["total"] for h in history[1] if h["step"] >= alone.steps]
    assert len(set(frozen)) == 1  # image 1 kept its result from when it converged
    assert len({h["total"] for h in history[0]}) == len(history[0])
    assert result.per_image[1]["total"] == pytest.approx(alone.losses["total"], rel=1e-3)


def test_groups_by_size_and_keeps_order(images):
    contents, style = images
    small = torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(3))
    cfg = StyleConfig(**{**ADAM, "steps": 4})
    results = batching.stylize_batch([contents[0], small, contents[2]], [style], cfg, batch_size=4)
    assert [tuple(r.image.shape[-2:]) for r in results] == [(32, 32), (24, 32), (32, 32)]


def test_lbfgs_and_cpu_run_one_by_one():
    cfg = StyleConfig(**{**ADAM, "optimizer": "lbfgs"})
    assert not batching.can_batch(cfg)
    assert batching.auto_batch_size((32, 32), cfg) == 1
    assert batching.auto_batch_size((32, 32), StyleConfig(**ADAM)) == 1  # CPU: no gain measured


def test_out_of_memory_retries_smaller_then_names_the_size(images, monkeypatch):
    contents, style = images
    cfg = StyleConfig(**{**ADAM, "steps": 2})
    tried = []
    real = batching.stylize_tensors

    def limited(content, *args, **kwargs):
        tried.append(content.shape[0])
        if content.shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(content, *args, **kwargs)

    monkeypatch.setattr(batching, "stylize_tensors", limited)
    results = batching.stylize_batch(list(contents), [style], cfg, batch_size=3)
    assert len(results) == 3 and tried[:2] == [3, 1]

    def never(content, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(batching, "stylize_tensors", never)
    with pytest.raises(batching.OutOfMemory, match="32x32"):
        batching.stylize_batch([contents[0]], [style], cfg, batch_size=2)
