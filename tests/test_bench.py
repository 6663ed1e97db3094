"""`stylebatch bench` and the fixed fp32 scorer."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from stylebatch.cli import app
from stylebatch.engine import scorer
from stylebatch.engine.bench import step_flops


def test_bench_cli_json_runs_in_seconds():
    result = CliRunner().invoke(app, ["bench", "--device", "cpu", "--size", "32", "--steps", "2", "--json"])
    assert result.exit_code == 0, result.output
    start = result.stdout.index("{")
    report = json.loads(result.stdout[start : result.stdout.rindex("}") + 1])
    (row,) = report["rows"]
    assert row["size"] == 32 and row["ms_per_step"] > 0 and row["images_per_hour"] > 0
    assert row["peak_memory_mb"] is None  # CPU: no per-size peak
    assert report["precision"] == "fp32"


def test_bench_rejects_bad_sizes():
    result = CliRunner().invoke(app, ["bench", "--device", "cpu", "--size", "big"])
    assert result.exit_code == 2


def test_step_flops_is_the_design_floor():
    assert step_flops(512, 512) / 1e12 == pytest.approx(0.38, rel=0.01)


def test_paper_losses_by_hand():
    # F: N=2 channels, M=2 positions, all ones. G = F F^T = [[2, 2], [2, 2]].
    f = torch.ones(1, 2, 1, 2)
    assert scorer.paper_gram(f)[0].tolist() == [[2.0, 2.0], [2.0, 2.0]]
    # style: A = 0 -> E = 1/(4 N^2 M^2) * sum(G^2) = 16 / (4 * 4 * 4) = 0.25
    assert scorer.paper_style_layer_loss(f, torch.zeros(1, 2, 2)).item() == pytest.approx(0.25)
    # A = G -> 0
    assert scorer.paper_style_layer_loss(f, scorer.paper_gram(f)).item() == 0.0
    # content: P = 0 -> 1/2 * sum(1) over 4 values = 2
    assert scorer.paper_content_loss(f, torch.zeros_like(f)).item() == pytest.approx(2.0)
    # F = [[1, 3]], P = [[0, 1]] -> 1/2 (1 + 4) = 2.5
    g = torch.tensor([[[[1.0, 3.0]]]])
    assert scorer.paper_content_loss(g, torch.tensor([[[[0.0, 1.0]]]])).item() == pytest.approx(2.5)


def test_scorer_combines_layers_like_the_paper():
    gen = torch.Generator().manual_seed(0)
    content, style, image = (torch.rand(1, 3, 32, 32, generator=gen) for _ in range(3))
    s = scorer.Scorer(content, style, weights_spec="random", style_weight=1e3)
    (score,) = s(image)
    assert score.style == pytest.approx(sum(score.layers.values()) / 5)
    assert score.total == pytest.approx(score.content + 1e3 * score.style)
    (perfect,) = s(content)
    assert perfect.content == 0.0
    (same_style,) = s(style)
    assert same_style.style == pytest.approx(0.0, abs=1e-12)
    # any input size is resized to the scorer's fixed size first
    (bigger,) = s(torch.rand(1, 3, 48, 48, generator=gen))
    assert s.size == (32, 32) and bigger.total > 0
