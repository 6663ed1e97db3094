"""Safety: nothing is written outside the output directory, manifests and presets are data.

(Weights load with weights_only=True: tests/test_weights_vgg.py. The decompression-bomb limit
and `--set max_pixels`: tests/test_hostile_inputs.py.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stylebatch import pipelines
from stylebatch.batch import manifest as mf
from stylebatch.batch import scheduler
from stylebatch.cli import app
from stylebatch.config import StyleConfig
from stylebatch.errors import ConfigError

from .faultkit import FAST, ledger_rows, tiny_image

CODE = "__import__('os').system('touch PWNED')"


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under root; files with (size, mtime)."""
    return {
        p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else "dir"
        for p in root.rglob("*")
    }


def test_outputs_trying_to_escape_write_nothing_outside(ray_session, tmp_path: Path) -> None:
    work = tmp_path / "work"  # the parent of the output directory, watched
    work.mkdir()
    tiny_image(work / "a.png", 1)
    tiny_image(work / "s.png", 2)
    outputs = ["../escaped.png", "sub/../../escaped2.png", str(tmp_path / "abs.png"), "ok/./fine.png"]
    rows = [{"content": "a.png", "style": "s.png", "output": o, "seed": i} for i, o in enumerate(outputs)]
    manifest = work / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = tree(tmp_path)
    try:
        result = CliRunner().invoke(
            app, ["run", str(manifest), "--out", str(work / "out"), *FAST, "--workers", "1", "--skip-invalid"]
        )
    finally:
        scheduler.release_workers()
    assert result.exit_code == 1, result.output
    after = tree(tmp_path)
    new = {name for name in after if name not in before}
    assert all(name.startswith("work/out/") or name == "work/out" for name in new), new
    assert all(after[name] == st for name, st in before.items())  # nothing outside changed
    assert (work / "out" / "ok" / "fine.png").is_file()
    errors = [r["error"] for r in ledger_rows(work / "out") if r["status"] == "failed"]
    assert len(errors) == 3 and all("leaves the output directory" in e for e in errors)


def test_manifest_cells_are_data_not_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    tiny_image(tmp_path / "a.png", 1)
    tiny_image(tmp_path / "s.png", 2)
    rows = [
        {"content": CODE, "style": "s.png"},  # a path that does not exist, nothing more
        {"content": "a.png", "style": "s.png", "steps": CODE},
        {"content": "a.png", "style": "s.png", "style_weights": CODE},
        {"content": "a.png", "style": "s.png", "seed": "{{7*7}}", "output": "$(touch PWNED).png"},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    parsed = mf.parse(manifest, StyleConfig())
    problems = {(e.row, e.field): e.problem for e in parsed.errors}
    assert "file not found" in problems[(1, "content")] and CODE in problems[(1, "content")]
    assert (2, "steps") in problems and (3, "style_weights") in problems
    assert (4, "seed") in problems  # a template is not evaluated either
    csv_manifest = tmp_path / "m.csv"
    csv_manifest.write_text(f'content,style,output\na.png,s.png,"{CODE}.png"\n')
    [job] = mf.parse(csv_manifest, StyleConfig()).jobs
    assert job.output == f"{CODE}.png"  # an odd but harmless file name inside the output directory
    assert not any(p.name == "PWNED" for p in tmp_path.rglob("*"))


def test_toml_presets_are_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    odd = tmp_path / "odd.toml"
    odd.write_text(f'description = "{CODE}"\nsteps = 3\n')
    cfg = pipelines.load(str(odd))
    assert cfg.description == CODE and cfg.steps == 3  # text, never evaluated
    for body, message in [
        ('__class__ = "x"\n', "unknown setting"),
        (f"steps = {CODE}\n", "not valid TOML"),
        ('steps = "3; rm -rf /"\n', "steps"),
        ("[[steps]]\nx = 1\n", "steps"),
    ]:
        odd.write_text(body)
        with pytest.raises(ConfigError, match=message):
            pipelines.load(str(odd))
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()
    assert os.listdir(tmp_path) == ["odd.toml"]
