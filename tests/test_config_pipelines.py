"""Config defaults, --set parsing, presets (also from an installed package)."""

import subprocess
import sys

import pytest

from stylebatch import StyleConfig, pipelines
from stylebatch.config import keys, parse_set
from stylebatch.errors import ConfigError


def test_every_preset_loads_and_paper_is_the_paper():
    names = set(pipelines.available())
    assert {"paper", "default", "fast", "hires"} <= names
    for name in names:
        assert pipelines.load(name).name == name
    paper = pipelines.load("paper")
    assert (paper.init, paper.optimizer, paper.scales, paper.size) == ("noise", "lbfgs", 1, 512)
    assert paper.normalize == "paper" and paper.pooling == "avg"
    assert paper.content_layers == ("relu4_2",)
    assert paper.style_layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert paper.layer_weights == (0.2,) * 5
    assert paper.content_weight / paper.style_weight == pytest.approx(1e-3)


def test_set_values_use_toml_syntax():
    over = parse_set(
        [
            "size=256",
            "style_weight=2.5",
            "color=luminance",
            "average=false",
            "style_layers=relu1_1,relu2_1",
            "video.overlap=6",
        ]
    )
    cfg = pipelines.load("default", over)
    assert cfg.size == 256 and cfg.style_weight == 2.5 and cfg.color == "luminance"
    assert cfg.average is False and cfg.style_layers == ("relu1_1", "relu2_1")
    assert cfg.video.overlap == 6


@pytest.mark.parametrize(
    "item, message",
    [
        ("stile_weight=3", "did you mean style_weight"),
        ("size=big", "size: expected int"),
        ("size=1.5", "size: expected int"),
        ("optimizer=sgd", "not one of lbfgs, adam"),
        ("style_layers=relu9_9", "unknown VGG-19 layer"),
        ("noequals", "expected key=value"),
        ("video.nope=1", "unknown setting 'video.nope'"),
    ],
)
def test_bad_settings_are_clear(item, message):
    with pytest.raises(ConfigError, match=message):
        pipelines.load("default", parse_set([item]))


def test_pipeline_from_file_and_bad_files(tmp_path):
    good = tmp_path / "mine.toml"
    good.write_text("size = 300\nstyle_weight = 3.0\n[video]\noverlap = 2\n")
    cfg = pipelines.load(str(good))
    assert (cfg.name, cfg.size, cfg.video.overlap) == ("mine", 300, 2)
    bad = tmp_path / "bad.toml"
    bad.write_text("size = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        pipelines.load(str(bad))
    (tmp_path / "typo.toml").write_text("sise = 3\n")
    with pytest.raises(ConfigError, match="pipeline typo: unknown setting 'sise'"):
        pipelines.load(str(tmp_path / "typo.toml"))
    with pytest.raises(ConfigError, match="unknown pipeline"):
        pipelines.load("nonesuch")


def test_defaults_live_in_the_config():
    assert pipelines.load("default").steps == 200
    assert StyleConfig().size == 512 and "video.temporal" in keys()


def test_presets_load_from_the_installed_package(tmp_path):
    """Run from outside the repo: with a wheel install this reads stylebatch/_pipelines."""
    code = "import stylebatch.pipelines as p; print(sorted(p.available()))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "paper" in out.stdout and "default" in out.stdout
