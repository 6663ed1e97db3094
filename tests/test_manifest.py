"""Manifests (CSV / JSONL) and photo folders: parsing, validation, every bad row at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stylebatch.batch import manifest as mf
from stylebatch.cli import app
from stylebatch.config import StyleConfig, keys
from stylebatch.errors import ConfigError

from .conftest import synthetic_photo, synthetic_style

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "img").mkdir()
    synthetic_photo(seed=0).save(tmp_path / "img" / "a.png")
    synthetic_photo(seed=1).save(tmp_path / "img" / "b é.png")  # non-ASCII and a space
    synthetic_style(seed=1).save(tmp_path / "s1.png")
    synthetic_style(seed=2).save(tmp_path / "s2.png")
    return tmp_path


def write(path: Path, text: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def test_csv_bom_crlf_multiple_styles_and_overrides(files: Path) -> None:
    text = (
        "Content,Style,style_weights,output,size,steps\n"
        "img/a.png,s1.png,,,,\n"
        "img/b é.png,s1.png;s2.png,0.7;0.3,blend/b.jpg,40,5\n"
        ",,,,,\n"  # an empty row: skipped
    )
    path = files / "m.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    parsed = mf.load(path, StyleConfig())
    assert parsed.empty == 1 and not parsed.errors
    a, b = parsed.jobs
    assert a.content == files / "img" / "a.png" and a.styles == (files / "s1.png",)
    assert a.output == "img/a__s1.png" and a.overrides == () and a.row == 2
    assert b.styles == (files / "s1.png", files / "s2.png") and b.style_weights == (0.7, 0.3)
    assert b.output == "blend/b.jpg" and dict(b.overrides) == {"size": 40, "steps": 5}
    assert b.config(StyleConfig()).size == 40


def test_every_setting_is_a_column_and_reaches_the_job_config(files: Path) -> None:
    """A new StyleConfig field needs no manifest code (batch/manifest/columns.py): any key is a column."""
    header = ",".join(["content", "style", *keys()])
    errors = mf.parse(write(files / "all.csv", header + "\n"), StyleConfig()).errors
    assert [e.field for e in errors] == ["manifest"]  # only "no rows": no column is unknown
    row = '{"content": "img/a.png", "style": "s1.png", "video.temporal": "previous", "tv_weight": 2}'
    job = mf.load(write(files / "m.jsonl", row + "\n"), StyleConfig()).jobs[0]
    cfg = job.config(StyleConfig())
    assert (cfg.video.temporal, cfg.tv_weight, cfg.steps) == ("previous", 2.0, StyleConfig().steps)


def test_jsonl_lists_and_duplicates(files: Path) -> None:
    row = '{"content": "img/a.png", "style": ["s1.png", "s2.png"], "style_weights": [1, 3], "seed": 4}'
    path = write(files / "m.jsonl", f"{row}\n\n{row}\n" + '{"content": "img/a.png", "style": "s2.png"}\n')
    parsed = mf.load(path, StyleConfig())
    assert parsed.duplicates == 1 and len(parsed.jobs) == 2
    assert parsed.jobs[0].style_weights == (1.0, 3.0) and dict(parsed.jobs[0].overrides) == {"seed": 4}
    assert parsed.jobs[0].output == "img/a__s1+s2.png"


def test_every_bad_row_reported_at_once(files: Path) -> None:
    text = (
        "content,style,output,steps\n"
        "img/a.png,s1.png,ok.png,3\n"
        "img/missing.png,s1.png,,\n"  # missing content
        "img/a.png,,x.png,\n"  # empty style
        "img/a.png,s1.png,../escape.png,\n"  # leaves the output dir
        "img/a.png,s1.png,/abs/out.png,\n"  # absolute
        "img/a.png,s2.png,y.png,lots\n"  # bad override value
        "img/a.png,s2.png,out.gif,\n"  # bad output extension
        "img/a.png,s2.png,contact_sheet.jpg,\n"  # the report's own file
    )
    with pytest.raises(mf.ManifestError) as info:
        mf.load(write(files / "m.csv", text), StyleConfig())
    errors = info.value.errors
    assert [(e.row, e.field) for e in errors] == [
        (3, "content"),
        (4, "style"),
        (5, "output"),
        (6, "output"),
        (7, "steps"),
        (8, "output"),
        (9, "output"),
    ]
    message = str(info.value)
    assert "m.csv, line 3, content: file not found" in message and "leaves the output directory" in message
    assert info.value.exit_code == 2
    # --skip-invalid: the valid row runs, the others come back as errors to record
    parsed = mf.load(files / "m.csv", StyleConfig(), skip_invalid=True)
    assert [j.output for j in parsed.jobs] == ["ok.png"] and len(parsed.errors) == 7


def test_missing_and_unknown_columns(files: Path) -> None:
    with pytest.raises(mf.ManifestError, match="missing column"):
        mf.load(write(files / "m.csv", "content,output\nimg/a.png,x.png\n"), StyleConfig())
    with pytest.raises(mf.ManifestError, match="unknown column.*did you mean steps"):
        mf.load(write(files / "m.csv", "content,style,stpes\nimg/a.png,s1.png,3\n"), StyleConfig())
    # --skip-invalid cannot run a manifest whose header is wrong
    with pytest.raises(mf.ManifestError):
        mf.load(files / "m.csv", StyleConfig(), skip_invalid=True)
    path = write(
        files / "m.jsonl", '{"content": "img/a.png", "style": "s1.png", "colour": "none"}\nnot json\n'
    )
    with pytest.raises(mf.ManifestError) as info:
        mf.load(path, StyleConfig())
    assert [(e.row, e.field) for e in info.value.errors] == [(1, "colour"), (2, "row")]


def test_non_utf8_is_a_clear_error(files: Path) -> None:
    path = write(files / "m.csv", "content,style\nimg/café.png,s1.png\n", encoding="latin-1")
    with pytest.raises(ConfigError, match="not UTF-8"):
        mf.parse(path)


def test_conflicting_outputs_rejected(files: Path) -> None:
    text = "content,style,output\nimg/a.png,s1.png,same.png\nimg/a.png,s2.png,same.png\n"
    with pytest.raises(mf.ManifestError, match="also the output of line 2"):
        mf.load(write(files / "m.csv", text), StyleConfig())


def test_safe_output() -> None:
    assert mf.safe_output("a/./b.png") == "a/b.png"
    for bad in ("../x.png", "a/../../x.png", "/etc/x.png", "C:\\x.png", "\\\\server\\x.png", ""):
        assert mf.safe_output(bad) is None, bad


def test_example_manifests_parse() -> None:
    for name in ("example.csv", "example.jsonl"):
        parsed = mf.load(REPO / "manifests" / name, StyleConfig())
        assert len(parsed.jobs) == 3 and not parsed.errors


def test_scan_folder_by_content_and_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    synthetic_photo().save(root / "top.png")
    synthetic_photo(seed=2).save(root / "sub" / "noext", format="PNG")  # an image without extension
    (root / "sub" / "fake.jpg").write_text("not an image")
    outside = tmp_path / "outside.png"
    synthetic_photo().save(outside)
    os.symlink(outside, root / "link_out.png")  # leaves the tree: ignored
    os.symlink(root / "top.png", root / "sub" / "link_in.png")  # inside the tree: followed
    found = [p.relative_to(root).as_posix() for p in mf.scan_folder(root)]
    assert found == ["top.png", "sub/link_in.png", "sub/noext"]


def test_manifest_make_writes_equivalent_csv(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(files)
    result = CliRunner().invoke(app, ["manifest", "make", "img", "--style", "s1.png", "--style", "s2.png"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "content,style,output" and len(lines) == 5
    assert "img/a.png,s1.png,a__s1.png" in lines
    (files / "m.csv").write_text(result.stdout, encoding="utf-8")
    from_csv = {(j.content, j.styles, j.output) for j in mf.load(files / "m.csv", StyleConfig()).jobs}
    direct = mf.folder_jobs(files / "img", [files / "s1.png", files / "s2.png"], StyleConfig())
    assert from_csv == {(j.content, j.styles, j.output) for j in direct}
