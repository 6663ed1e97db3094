"""`stylebatch image`, `weights` and `pipelines` through the CLI, as a user runs them."""

import json
import subprocess
import sys

from PIL import Image
from typer.testing import CliRunner

from stylebatch.cli import app

runner = CliRunner()
TINY_ARGS = ["--size", "32", "--steps", "3", "--set", "scales=1", "--weights", "random", "--device", "cpu"]


def test_image_writes_output_and_sidecar(photo_path, style_path, tmp_path):
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["image", str(photo_path), str(style_path), "-o", str(out), *TINY_ARGS])
    assert result.exit_code == 0, result.output
    assert "RANDOM VGG-19" in result.output
    assert Image.open(out).size == (32, 24)
    meta = json.loads(out.with_name("out.png.json").read_text())
    assert meta["random_weights"] is True and meta["weights"] == "random:0"
    assert meta["settings"]["size"] == 32 and meta["steps"] == 3
    assert meta["versions"]["torch"]


def test_two_styles_with_blend_weights(photo_path, style_path, tmp_path):
    out = tmp_path / "blend.jpg"
    args = [
        "image",
        str(photo_path),
        str(style_path),
        str(photo_path),
        "-o",
        str(out),
        "--style-weights",
        "0.7,0.3",
        *TINY_ARGS,
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "blend.jpg.json").read_text())["inputs"]["style_weights"] == [0.7, 0.3]
    bad = runner.invoke(app, [*args[: -len(TINY_ARGS) - 2], "--style-weights", "1", *TINY_ARGS])
    assert bad.exit_code == 2


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stylebatch", *args], capture_output=True, text=True, env=env
    )


def test_usage_errors_exit_2_without_traceback(photo_path, style_path, tmp_path):
    out = str(tmp_path / "x.png")
    bad_set = _cli("image", str(photo_path), str(style_path), "-o", out, "--set", "stile_weight=1")
    assert bad_set.returncode == 2 and "did you mean style_weight" in bad_set.stderr
    assert "Traceback" not in bad_set.stderr
    missing = _cli("image", str(tmp_path / "nope.jpg"), str(style_path), "-o", out, *TINY_ARGS)
    assert missing.returncode == 1 and "nope.jpg: file not found" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_missing_default_weights_message(photo_path, style_path, tmp_path):
    import os

    env = {**os.environ, "TORCH_HOME": str(tmp_path / "th"), "STYLEBATCH_OFFLINE": "1"}
    env.pop("STYLEBATCH_WEIGHTS", None)
    done = _cli("image", str(photo_path), str(style_path), "-o", str(tmp_path / "o.png"), env=env)
    assert done.returncode == 2
    assert "Three ways out" in done.stderr and "Traceback" not in done.stderr


def test_weights_export_and_verify_commands(tmp_path):
    out = tmp_path / "vgg.pth"
    exported = runner.invoke(app, ["weights", "export", str(out), "--weights", "random"])
    assert exported.exit_code == 0, exported.output
    verified = runner.invoke(app, ["weights", "verify", str(out)])
    assert verified.exit_code == 0 and "ok" in verified.output


def test_every_command_help_has_an_example():
    import typer

    def leaves(command, path: tuple[str, ...] = ()):
        if hasattr(command, "commands"):  # a group (typer may vendor its own click)
            for name, sub in command.commands.items():
                yield from leaves(sub, (*path, name))
        else:
            yield path, command

    found = list(leaves(typer.main.get_command(app)))
    assert len(found) >= 8
    for path, command in found:
        assert "Example:" in (command.help or ""), " ".join(path)
    assert "Example:" in runner.invoke(app, ["--help"]).output


def test_pipelines_show(tmp_path):
    result = runner.invoke(app, ["pipelines", "show", "paper", "--set", "size=256"])
    assert result.exit_code == 0 and "size = 256" in result.output and "init = 'noise'" in result.output
