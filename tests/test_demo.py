"""`stylebatch demo`: a newcomer's first run on the sample images that ship with the package."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stylebatch import weights
from stylebatch.batch import scheduler
from stylebatch.cli import app
from stylebatch.cli import demo as demo_cli
from stylebatch.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_demo_runs_the_samples_and_says_where_the_report_is(tmp_path: Path, ray_session) -> None:
    out = tmp_path / "demo"
    args = [
        "demo",
        "--out",
        str(out),
        "--weights",
        "random",
        "--size",
        "32",
        "--steps",
        "2",
        "--workers",
        "1",
    ]
    try:
        result = CliRunner().invoke(app, args)
    finally:
        scheduler.release_workers()
    assert result.exit_code == 0, result.output
    rows = (demo_cli.samples_dir() / demo_cli.DEMO_MANIFEST).read_text().splitlines()[1:]
    outputs = [row.split(",")[3] for row in rows]
    assert len(outputs) == 4 and all((out / o).is_file() for o in outputs)
    assert (out / "report.html").is_file() and (out / "contact_sheet.jpg").is_file()
    assert f"open the report in a browser: {(out / 'report.html').resolve().as_uri()}" in result.output


def test_demo_without_weights_gives_the_one_message(tmp_path: Path) -> None:
    if weights.default_cache_path().is_file():
        pytest.skip("the ImageNet weights are cached on this machine")
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo")])  # tests are offline
    assert result.exit_code == 2, result.output
    assert result.output.count("Three ways out") == 1 and "Traceback" not in result.output
    assert not (tmp_path / "demo" / "report.html").exists()


def test_samples_travel_in_the_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    included = project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert included["manifests"] == "stylebatch/_samples"
    # every file demo.csv names is in manifests/ (so in the wheel), relative to the manifest
    for row in (REPO / "manifests" / "demo.csv").read_text().splitlines()[1:]:
        content, styles = row.split(",")[:2]
        for name in [content, *styles.split(";")]:
            assert (REPO / "manifests" / name).is_file(), name
    # an installed package's copy is found first; with neither copy, one clear message
    packaged = tmp_path / "site" / "_samples"
    packaged.mkdir(parents=True)
    (packaged / "demo.csv").write_text("content,style\n")
    monkeypatch.setattr(demo_cli.resources, "files", lambda package: tmp_path / "site")
    assert demo_cli.samples_dir() == packaged
    (packaged / "demo.csv").unlink()
    monkeypatch.setattr(demo_cli, "_REPO_SAMPLES", tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="sample images are missing"):
        demo_cli.samples_dir()
