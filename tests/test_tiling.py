"""Print size: scales over `max_tile_pixels` are optimised in tiles with the untiled objective."""

from contextlib import nullcontext

import pytest
import torch

from stylebatch import pipelines, stylize_tensors
from stylebatch.config import parse_set
from stylebatch.engine import objective
from stylebatch.engine import tiles as geometry
from stylebatch.engine.pyramid import style_grams
from stylebatch.engine.runtime import get_extractor, layout
from stylebatch.engine.terms import Scene
from stylebatch.engine.vgg import VGGFeatures
from stylebatch.errors import ConfigError
from stylebatch.images import pil_to_tensor

from .conftest import TINY, synthetic_photo, synthetic_style

# shallow layers keep the margin small (12 px) so tiny images still cut into several tiles
SHALLOW = dict(style_layers="relu1_1,relu2_1,relu3_1", content_layers="relu3_1")


def cfg(**over):
    return pipelines.load("default", {**TINY, **SHALLOW, "size": 96, **over})


@pytest.fixture(scope="module")
def content() -> torch.Tensor:
    return pil_to_tensor(synthetic_photo(96, 72))


@pytest.fixture(scope="module")
def style() -> torch.Tensor:
    return pil_to_tensor(synthetic_style(64))


def objectives(config, content, style, max_pixels, autocast=nullcontext):
    """(untiled objective, tiled objective, tiles) for one image at its own size."""
    device = torch.device("cpu")
    model = get_extractor(config, device)

    def features(image):
        with autocast():
            return model(layout(image, config, device))

    grams = style_grams(model, style, config, max(content.shape[-2:]), autocast)
    h, w = content.shape[-2:]
    tiles = geometry.plan(h, w, max_pixels, *geometry.halo((*config.content_layers, *config.style_layers)))

    def build(plan):
        targets = objective.content_features(features, content, plan)
        scene = Scene(config, (h, w), content, [grams], [1.0], None, targets)
        return objective.build(scene, features, plan)

    return build(geometry.plan(h, w, h * w, 0, 1)), build(tiles), tiles


def loss_and_grad(objective, x):
    x = x.clone().requires_grad_(True)
    terms = objective(x)
    terms["total"].sum().backward()
    return {k: float(v.detach().sum()) for k, v in terms.items()}, x.grad


@pytest.mark.parametrize(
    "over, shape, max_pixels",
    [
        (SHALLOW, (72, 96), 48 * 48),  # 8 tiles, 12 px margins
        ({}, (96, 256), 20_000),  # the paper's layers to relu5_1: 2 tiles, 80 px margins
    ],
)
def test_tiled_loss_and_gradient_equal_the_untiled_ones(over, shape, max_pixels):
    config = pipelines.load("default", {**TINY, **over})
    content = torch.nn.functional.interpolate(
        pil_to_tensor(synthetic_photo(64, 48)), size=shape, mode="bilinear"
    )
    x = (0.7 * content + 0.3 * torch.rand(content.shape, generator=torch.Generator().manual_seed(0))).clamp(
        0, 1
    )
    untiled, tiled, tiles = objectives(config, content, pil_to_tensor(synthetic_style(64)), max_pixels)
    assert len(tiles) > 1
    expected, grad = loss_and_grad(untiled, x)
    got, tiled_grad = loss_and_grad(tiled, x)
    for key in ("total", "content", "style"):
        assert got[key] == pytest.approx(expected[key], rel=1e-5)
    # measured: 2e-7 to 4e-7 (float rounding); without the margins 0.38 (test below)
    assert float((tiled_grad - grad).norm() / grad.norm()) < 1e-5


def test_fast_path_bf16_channels_last_tiles_match(content, style):
    """The CUDA fast path's switches (here on the CPU): bf16 autocast and channels_last."""
    config = cfg(precision="bf16", channels_last="on")

    def bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)

    untiled, tiled, tiles = objectives(config, content, style, 48 * 48, bf16)
    x = (0.8 * content + 0.1).clamp(0, 1)
    expected, grad = loss_and_grad(untiled, x)
    got, tiled_grad = loss_and_grad(tiled, x)
    assert len(tiles) == 8 and got["total"] == pytest.approx(expected["total"], rel=1e-3)
    # measured 5.7e-3: bf16 rounding differs between tile-sized and image-sized convolutions
    assert float((tiled_grad - grad).norm() / grad.norm()) < 2e-2


def test_without_margins_the_gradient_is_wrong(content, style):
    """The margin is what makes tiles exact: a plan with none differs at the borders."""
    config = cfg()
    untiled, tiled, tiles = objectives(config, content, style, 48 * 48)
    tiled.tiles = [geometry.Tile(t.core, t.core) for t in tiles]
    x = content.clone()
    _, grad = loss_and_grad(untiled, x)
    _, bad = loss_and_grad(tiled, x)
    assert float((bad - grad).norm() / grad.norm()) > 1e-2


def test_large_scale_is_tiled_with_per_tile_progress_and_matches_untiled_adam(content, style):
    seen = []
    tiled_cfg = cfg(scales=2, min_scale_size=48, coarse_steps=3, steps=4, max_tile_pixels=48 * 48)
    result = stylize_tensors(content, [style], tiled_cfg, callback=seen.append)
    tile_reports = [s for s in seen if s.tiles]
    assert result.sizes == [(36, 48), (72, 96)] and result.image.shape == (1, 3, 72, 96)
    assert torch.isfinite(result.image).all()
    n = tile_reports[0].tiles
    assert n == 8 and all(s.scale == 1 for s in tile_reports)  # the 48 px scale fits in one piece
    assert [s.tile for s in tile_reports] == list(range(1, n + 1)) * 4  # every tile of every step
    assert [s.step for s in tile_reports[::n]] == [3, 4, 5, 6]  # steps finished before the sweep
    assert "tiling at" in tile_reports[0].note and not any(s.note for s in tile_reports[1:])
    # the tiled scale runs Adam with exact gradients: as an untiled Adam run from the same start
    coarse = stylize_tensors(content, [style], tiled_cfg.replace(scales=1, size=48, steps=3)).image
    adam_cfg = tiled_cfg.replace(scales=1, optimizer="adam", max_tile_pixels=10**9)
    untiled_adam = stylize_tensors(content, [style], adam_cfg, init_image=coarse)
    untiled_lbfgs = stylize_tensors(content, [style], tiled_cfg.replace(max_tile_pixels=10**9))
    # Adam's first steps follow the gradient's sign, so float rounding in near-zero gradients
    # (thread count, summation order) can flip single pixels by up to ~0.12: compare the mean.
    # Measured: 1.7e-8 with one thread, 2.5e-4 with two; untiled L-BFGS differs far more.
    tiled_vs_adam = float((result.image - untiled_adam.image).abs().mean())
    assert tiled_vs_adam < 2e-3
    assert float((result.image - untiled_lbfgs.image).abs().mean()) > 10 * tiled_vs_adam
    assert result.losses["total"] == pytest.approx(untiled_adam.losses["total"], rel=1e-4)


def test_memory_is_bounded_by_the_tile(content, style, monkeypatch):
    """No VGG pass (content targets, style Grams, steps) sees more than max_tile_pixels."""
    largest = [0]
    forward = VGGFeatures.forward

    def counting(self, image):
        largest[0] = max(largest[0], image.shape[-2] * image.shape[-1])
        return forward(self, image)

    monkeypatch.setattr(VGGFeatures, "forward", counting)
    budget = 48 * 48
    stylize_tensors(content, [style], cfg(scales=1, steps=2, max_tile_pixels=budget))
    assert 0 < largest[0] <= budget
    largest[0] = 0
    stylize_tensors(content, [style], cfg(scales=1, steps=2, max_tile_pixels=0))  # automatic: fits whole
    assert largest[0] == 96 * 96  # the style image, sized like the output


def test_seams_score_as_elsewhere(content, style):
    """Mean |finite difference| across tile borders over that elsewhere: as untiled (within 1.1x)."""
    config = cfg(scales=1, steps=6, max_tile_pixels=48 * 48)
    tiled = stylize_tensors(content, [style], config).image[0]
    untiled = stylize_tensors(content, [style], config.replace(max_tile_pixels=10**9)).image[0]
    tiles = geometry.plan(72, 96, 48 * 48, *geometry.halo(config.style_layers))
    rows = sorted({t.core[0] for t in tiles if t.core[0]})
    cols = sorted({t.core[2] for t in tiles if t.core[2]})

    def score(img):
        dy = (img[:, 1:] - img[:, :-1]).abs().mean(0)
        dx = (img[:, :, 1:] - img[:, :, :-1]).abs().mean(0)
        border = torch.cat([dy[[r - 1 for r in rows]].flatten(), dx[:, [c - 1 for c in cols]].flatten()])
        return float(border.mean() / torch.cat([dy.flatten(), dx.flatten()]).mean())

    assert rows and cols
    assert score(tiled) <= 1.1 * score(untiled)


def test_plan_covers_the_image_once_within_the_budget():
    for h, w, budget in ((2048, 1536, 262_144), (4096, 4096, 262_144), (1365, 2048, 1_000_000)):
        tiles = geometry.plan(h, w, budget, 80, 16)
        cover = torch.zeros(h, w, dtype=torch.int32)
        for t in tiles:
            y0, y1, x0, x1 = t.core
            cover[y0:y1, x0:x1] += 1
            oy0, oy1, ox0, ox1 = t.outer
            assert (oy1 - oy0) * (ox1 - ox0) <= budget
            assert oy0 % 16 == 0 and ox0 % 16 == 0 and y0 % 16 == 0 and x0 % 16 == 0
        assert bool((cover == 1).all())
    assert len(geometry.plan(100, 100, 10_000, 80, 16)) == 1


def test_halo_is_the_padding_reach_of_the_deepest_layer():
    assert geometry.halo(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "relu4_2")) == (80, 16)
    assert geometry.halo(("relu4_2",)) == (40, 8)
    assert geometry.halo(("relu3_1",)) == (12, 4)


def test_too_small_a_budget_is_refused_before_any_work(content, style):
    seen = []
    small = pipelines.load("default", {**TINY, "size": 96, "max_tile_pixels": 1000})
    with pytest.raises(ConfigError, match=r"max_tile_pixels=1,000 is too small.*176x176"):
        stylize_tensors(content, [style], small, callback=seen.append)
    assert seen == []


def test_max_tile_pixels_setting():
    assert pipelines.load("default").max_tile_pixels == 0
    assert parse_set(["max_tile_pixels=262144"]) == {"max_tile_pixels": 262144}
    with pytest.raises(ConfigError, match="max_tile_pixels"):
        pipelines.load("default", {"max_tile_pixels": -1})
    auto = geometry.budget(pipelines.load("default", {"device": "cpu"}), torch.device("cpu"))
    assert 512 * 512 <= auto <= geometry.AUTO_CPU_CAP
    # the image-sized state of a big output comes off the automatic budget first
    huge = geometry.budget(pipelines.load("default", {"device": "cpu"}), torch.device("cpu"), 10**8)
    assert huge < auto


def test_manifest_row_sets_max_tile_pixels(tmp_path):
    from stylebatch.batch import manifest

    for name in ("c.png", "s.png"):
        synthetic_photo(32, 24).save(tmp_path / name)
    path = tmp_path / "m.csv"
    path.write_text("content,style,output,max_tile_pixels\nc.png,s.png,a.png,262144\nc.png,s.png,b.png,\n")
    jobs = manifest.parse(path, pipelines.load("default")).jobs
    assert [job.config(pipelines.load("default")).max_tile_pixels for job in jobs] == [262144, 0]


def test_cli_says_when_it_tiles(tmp_path):
    from typer.testing import CliRunner

    from stylebatch.cli import app

    photo, style_file, out = tmp_path / "p.png", tmp_path / "s.png", tmp_path / "out.png"
    synthetic_photo(96, 72).save(photo)
    synthetic_style(48).save(style_file)
    args = ["image", str(photo), str(style_file), "-o", str(out), "--size", "96", "--steps", "2"]
    args += ["--weights", "random", "--device", "cpu", "--set", "scales=1", "--set", "max_tile_pixels=2304"]
    args += ["--set", "style_layers=relu1_1,relu2_1,relu3_1", "--set", "content_layers=relu3_1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "size 96x72: tiling at" in result.output and "max_tile_pixels=2,304" in result.output
    assert out.is_file()
