"""The options the stylising commands share reach the config the same way in every command."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stylebatch import pipelines
from stylebatch.cli import app
from stylebatch.cli.common import SharedOptions, with_shared_options
from stylebatch.config import StyleConfig, check_setting, get_setting, is_setting
from stylebatch.errors import ConfigError

SHARED = ["--pipeline", "fast", "--set", "tv_weight=1", "--size", "40", "--steps", "3"]
SHARED += ["--seed", "7", "--weights", "random", "--device", "cpu"]
EXPECTED = {"tv_weight": 1, "size": 40, "steps": 3, "seed": 7, "weights": "random", "device": "cpu"}


class _Stop(Exception):
    """Raised by the fake preset loader: the command got as far as building its config."""


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []

    def fake_load(pipeline: str, overrides: dict[str, Any]) -> StyleConfig:
        calls.append((pipeline, dict(overrides)))
        raise _Stop

    monkeypatch.setattr(pipelines, "load", fake_load)
    return calls


def _commands(tmp: Path) -> dict[str, list[str]]:
    a, s, out = str(tmp / "a.png"), str(tmp / "s.png"), str(tmp / "out")
    return {
        "image": ["image", a, s, "-o", str(tmp / "o.png")],
        "run": ["run", str(tmp / "m.csv"), "--out", out],
        "folder": ["folder", str(tmp), "--style", s, "--out", out],
        "video": ["video", str(tmp / "v.mp4"), "--style", s, "--out", str(tmp / "o.mp4")],
    }


def test_shared_options_reach_the_config_identically(tmp_path: Path, loads: list) -> None:
    for name, args in _commands(tmp_path).items():
        result = CliRunner().invoke(app, [*args, *SHARED])
        assert isinstance(result.exception, _Stop), (name, result.output)
    by_command = dict(zip(_commands(tmp_path), loads, strict=True))
    for name in ("image", "run", "folder"):
        assert by_command[name] == ("fast", EXPECTED), name
    # video: --steps is the steps of each later frame; everything else as in the other commands
    video_expected = {**EXPECTED, "video.frame_steps": 3}
    del video_expected["steps"]
    assert by_command["video"] == ("fast", video_expected)


def test_each_command_keeps_its_default_pipeline(tmp_path: Path, loads: list) -> None:
    for args in _commands(tmp_path).values():
        CliRunner().invoke(app, args)
    assert [pipeline for pipeline, _ in loads] == ["default", "default", "default", "video"]
    assert all(overrides == {} for _, overrides in loads)


def test_video_temporal_modes_are_the_configs(tmp_path: Path) -> None:
    args = _commands(tmp_path)["video"]
    result = CliRunner().invoke(app, [*args, "--temporal", "sideways", "--weights", "random"])
    assert result.exit_code == 2
    assert "--temporal 'sideways' is not one of independent, previous, warped" in result.output
    with pytest.raises(ConfigError, match="video.temporal='sideways' is not one of independent, previous"):
        StyleConfig().replace(**{"video.temporal": "sideways"})


def test_expanded_signature_and_direct_calls() -> None:
    seen: list[SharedOptions] = []

    @with_shared_options
    def command(
        first: int, shared: SharedOptions = SharedOptions(pipeline="video"), last: bool = False
    ) -> None:
        seen.append(shared)

    names = list(inspect.signature(command).parameters)
    assert names == ["first", "pipeline", "set_", "size", "steps", "seed", "weights", "device", "last"]
    assert inspect.signature(command).parameters["pipeline"].default == "video"
    command(1, size=64)  # what `stylebatch demo` does with `run`
    assert seen == [SharedOptions(pipeline="video", size=64)]


def test_public_setting_api() -> None:
    assert is_setting("video.overlap") and is_setting("steps")
    assert not is_setting("video") and not is_setting("video.nope") and not is_setting("stile")
    assert check_setting("steps", "3") == 3 and check_setting("video.temporal", "previous") == "previous"
    with pytest.raises(ConfigError, match="steps: expected int"):
        check_setting("steps", "many")
    with pytest.raises(ConfigError, match="unknown setting 'stile'"):
        check_setting("stile", 1)
    assert (
        get_setting(StyleConfig(), "video.temporal") == "warped" and get_setting(StyleConfig(), "size") == 512
    )
