"""The loss protocol: weights reach their terms, and a new term is one class plus one line."""

import pytest
import torch

from stylebatch import StyleConfig, pipelines, stylize_tensors
from stylebatch.cli.common import step_progress
from stylebatch.engine import progress_names, terms, weight_keys

from .conftest import TINY


def cfg(**over) -> StyleConfig:
    return pipelines.load("default", {**TINY, "scales": 1, **over})


@pytest.fixture(scope="module")
def noise(content) -> torch.Tensor:
    return torch.rand(content.shape, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("style_weight, content_weight", [(10.0, 1.0), (20.0, 1.0), (10.0, 3.0), (1e3, 1e-2)])
def test_weights_scale_their_terms_in_the_total(content, style, noise, style_weight, content_weight):
    """At a fixed image (zero steps from `noise`) the terms do not depend on the weights and
    the total is content_weight * content + style_weight * style."""
    base = stylize_tensors(content, [style], cfg(steps=0), init_image=noise).losses
    over = cfg(steps=0, style_weight=style_weight, content_weight=content_weight)
    losses = stylize_tensors(content, [style], over, init_image=noise).losses
    assert losses["content"] == base["content"] and losses["style"] == base["style"]
    # measured: within 6e-8 relative (float32 rounding of the sum)
    expected = content_weight * losses["content"] + style_weight * losses["style"]
    assert losses["total"] == pytest.approx(expected, rel=1e-6)


def test_weights_steer_the_optimisation(content, style):
    """A larger style weight trades content for style: the gradient carries the weights too."""
    styled = stylize_tensors(content, [style], cfg(steps=6, style_weight=1e3)).losses
    faithful = stylize_tensors(content, [style], cfg(steps=6, style_weight=1e-1)).losses
    assert styled["style"] < faithful["style"] and styled["content"] > faithful["content"]


class Darkness(terms.PixelTerm):
    """A toy term: the mean brightness, weighted 20 (pulls the image toward black)."""

    name = "darkness"
    weight_key = "darkness_weight"  # a real term adds this key to StyleConfig and reads it in build

    def __init__(self) -> None:
        self.weight = 20.0

    @classmethod
    def build(cls, scene: terms.Scene) -> "Darkness":
        return cls()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3))


@pytest.fixture
def registry(monkeypatch):
    """The registry as it is, restored after the test."""
    monkeypatch.setattr(terms, "TERMS", list(terms.TERMS))


def test_a_new_term_is_one_class_and_one_registration_line(content, style, registry, noise):
    plain = stylize_tensors(content, [style], cfg(steps=4))
    at_noise = stylize_tensors(content, [style], cfg(steps=0), init_image=noise).losses

    terms.register(Darkness)  # the one line

    seen = []
    dark = stylize_tensors(content, [style], cfg(steps=4), callback=seen.append)
    assert list(dark.losses) == ["content", "style", "darkness", "total"]
    assert all("darkness" in h for h in dark.history) and "darkness" in seen[-1].losses
    assert dark.image.mean() < plain.image.mean() - 0.03  # the term changes the result (measured 0.068)
    # the objective adds weight * term to the total
    losses = stylize_tensors(content, [style], cfg(steps=0), init_image=noise).losses
    assert losses["darkness"] == pytest.approx(float(noise.mean()), rel=1e-6)
    assert losses["total"] == pytest.approx(at_noise["total"] + 20.0 * losses["darkness"], rel=1e-6)
    # the tiled objective uses the same terms
    tiled = cfg(
        steps=0, size=96, max_tile_pixels=48 * 48, style_layers="relu1_1,relu2_1", content_layers="relu2_1"
    )
    assert "darkness" in stylize_tensors(content, [style], tiled).losses
    # the progress line and the report's parameter list follow the registry
    assert progress_names() == ("content", "style", "darkness") and weight_keys()[-1] == "darkness_weight"


def test_progress_line_lists_the_registered_terms(capsys):
    with step_progress("job") as callback:
        callback(_info({"total": 3.0, "content": 1.0, "style": 0.2, "tv": 5.0}))
    assert "loss 3 (content 1, style 0.2)" in capsys.readouterr().err


def _info(losses):
    from stylebatch import StepInfo

    return StepInfo(step=2, total_steps=4, scale=0, scales=1, size=(40, 48), losses=losses, elapsed=0.1)
