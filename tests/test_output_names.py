"""Issue #10, findings 1 and 7: output names that cannot collide or fail late, and inputs
refused before any work (NaN weights, absurd sizes, quoted ';', backslashes, folders as styles)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from stylebatch import images
from stylebatch.batch import manifest as mf
from stylebatch.batch import scheduler
from stylebatch.cli import app
from stylebatch.config import StyleConfig
from stylebatch.errors import ConfigError

from .faultkit import tiny_image

runner = CliRunner()
CFG = StyleConfig(size=32, steps=2, scales=1, weights="random", device="cpu")


def test_folder_mode_keeps_apart_inputs_that_share_a_stem(tmp_path: Path) -> None:
    """photo.jpg / photo.png / photo.JPG x s1/star.jpg / s2/star.png was 6 jobs, one file."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate(["photo.jpg", "photo.png", "photo.JPG", "other.png"]):
        tiny_image(photos / name, i)
    (tmp_path / "s1").mkdir()
    (tmp_path / "s2").mkdir()
    styles = [tiny_image(tmp_path / "s1" / "star.jpg", 7), tiny_image(tmp_path / "s2" / "star.png", 8)]
    jobs = mf.folder_jobs(photos, styles, CFG)
    outputs = [j.output for j in jobs]
    assert len(jobs) == 8 and len(set(outputs)) == 8, outputs
    assert "photo.jpg__star.jpg.png" in outputs and "photo.JPG__star.png.png" in outputs
    assert "other__star.jpg.png" in outputs  # a unique stem keeps the short name
    # one style alone keeps its plain name
    assert {j.output for j in mf.folder_jobs(photos, styles[:1], CFG)} >= {"other__star.png"}


def test_style_tags_go_up_folders_until_distinct() -> None:
    tags = mf.style_tags([Path("/a/s1/star.jpg"), Path("/a/s2/star.jpg"), Path("/b/wave.png")])
    assert tags == ["s1_star.jpg", "s2_star.jpg", "wave"]


def test_two_jobs_writing_one_file_are_refused_before_any_work(tmp_path: Path) -> None:
    style = tiny_image(tmp_path / "s.png", 1)
    a, b = tiny_image(tmp_path / "a.png", 2), tiny_image(tmp_path / "b.png", 3)
    jobs = [
        mf.Job(a, (style,), "same.png", source="x", row=2),
        mf.Job(b, (style,), "same.png", source="x", row=3),
    ]
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="writes same.png, as does x, line 2"):
        scheduler.run_batch(out, scheduler.prepare(jobs, CFG), scheduler.RunOptions(), CFG)
    assert not (out / "ledger.sqlite").exists()  # refused before the ledger or Ray


def test_style_folder_is_a_directory_not_missing(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    tiny_image(photos / "p.png", 1)
    (tmp_path / "styles").mkdir()
    with pytest.raises(ConfigError, match="is a directory, not an image"):
        mf.folder_jobs(photos, [tmp_path / "styles"], CFG)


def _manifest(tmp_path: Path, text: str) -> Path:
    tiny_image(tmp_path / "c.png", 1)
    tiny_image(tmp_path / "a.png", 2)
    tiny_image(tmp_path / "my;style.png", 3)
    path = tmp_path / "m.csv"
    path.write_text(text)
    return path


def test_quoted_semicolon_in_a_style_file_name(tmp_path: Path) -> None:
    path = _manifest(tmp_path, "content,style,style_weights\nc.png,'my;style.png';a.png,0.7;0.3\n")
    parsed = mf.parse(path, CFG)
    assert not parsed.errors, parsed.errors
    assert [s.name for s in parsed.jobs[0].styles] == ["my;style.png", "a.png"]
    # `manifest make` writes such names quoted, and they read back the same
    back = tmp_path / "back.csv"
    back.write_text(mf.to_csv(parsed.jobs, tmp_path))
    assert mf.parse(back, CFG).jobs[0].styles == parsed.jobs[0].styles


def test_unquoted_semicolon_names_the_way_out(tmp_path: Path) -> None:
    path = _manifest(tmp_path, "content,style\nc.png,my;style.png\n")
    problems = " ".join(str(e) for e in mf.parse(path, CFG).errors)
    assert "file not found" in problems and "'my;style.jpg'" in problems


def test_backslash_in_an_output_name_is_refused(tmp_path: Path) -> None:
    path = _manifest(tmp_path, "content,style,output\nc.png,a.png,a\\b.png\n")
    errors = mf.parse(path, CFG).errors
    assert len(errors) == 1 and "backslash" in errors[0].problem and errors[0].row == 2


@pytest.mark.parametrize("weights", ["nan;1", "inf;1", "-1;2", "0;0"])
def test_style_weights_must_be_finite_and_non_negative(tmp_path: Path, weights: str) -> None:
    path = _manifest(tmp_path, f"content,style,style_weights\nc.png,a.png;c.png,{weights}\n")
    errors = mf.parse(path, CFG).errors
    assert len(errors) == 1 and errors[0].field == "style_weights", errors


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("size", 10**9, "over the limit"),
        ("max_pixels", 10**13, "over the limit"),
        ("style_weight", math.nan, "finite"),
        ("content_weight", math.inf, "finite"),
        ("tv_weight", -1.0, "negative"),
        ("scale_ratio", math.nan, "finite"),
    ],
)
def test_settings_refused_before_work(key: str, value: object, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        CFG.replace(**{key: value})


def test_image_cli_refuses_nan_blend_weights(photo_path: Path, style_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.png"
    args = ["image", str(photo_path), str(style_path), str(style_path), "-o", str(out)]
    result = runner.invoke(app, [*args, "--style-weights", "nan,1", "--weights", "random", "--size", "32"])
    assert result.exit_code == 2 and "finite" in result.output and not out.exists()


def test_long_output_names_fail_before_work_not_after(tmp_path: Path) -> None:
    """A 240-character name fits (its temp file no longer repeats it); 252 does not (its
    sidecar would not), which the manifest says at once instead of after the computation."""
    fits = "n" * 240 + ".png"
    img = Image.new("RGB", (8, 8))
    saved = images.save_image(img, tmp_path / fits, {"a": 1})
    assert saved.exists() and images.sidecar_path(saved).exists()
    path = _manifest(tmp_path, f"content,style,output\nc.png,a.png,{fits}\nc.png,a.png,{'m' * 248}.png\n")
    errors = mf.parse(path, CFG).errors
    assert [e.row for e in errors] == [3] and "too long" in errors[0].problem


def test_outputs_and_sidecars_share_one_file_mode(tmp_path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    out = images.save_image(Image.new("RGB", (8, 8)), tmp_path / "x.png", {"a": 1})
    modes = {out.stat().st_mode & 0o777, images.sidecar_path(out).stat().st_mode & 0o777}
    assert modes == {0o644 & ~umask}
