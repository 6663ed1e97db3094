"""The hostile image corpus (tests/hostile.py) through real batch runs: as contents, as styles and
as a photo folder. Each bad file is one failure naming the file and the cause, the valid awkward
ones succeed, the rest of the run completes, exit code 1, no traceback.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stylebatch.batch import manifest as mf
from stylebatch.batch import scheduler
from stylebatch.cli import app

from .faultkit import FAST, ledger_rows, tiny_image
from .hostile import Case, make_image_corpus


@pytest.fixture(scope="module", autouse=True)
def pool(ray_session):
    yield ray_session
    scheduler.release_workers()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[Case]]:
    root = tmp_path_factory.mktemp("hostile")
    cases = make_image_corpus(root / "corpus")
    tiny_image(root / "good.png", 1, 40)
    tiny_image(root / "style.png", 2)
    return root, cases


def invoke(*args: object):
    return CliRunner().invoke(app, [*map(str, args), *FAST, "--workers", "1"])


def failures(out: Path) -> list[dict]:
    info = json.loads(CliRunner().invoke(app, ["status", str(out), "--json"]).stdout)
    return info["failures"]


def check_run(result, out: Path, cases: list[Case], role: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    failed = failures(out)
    for case in cases:
        mentions = [f for f in failed if case.path.name in f["error"]]
        if case.expect is None:
            assert not mentions, (case.name, mentions)
            assert (out / f"{role}_{case.name}.png").is_file(), case.name
        else:
            assert len(mentions) == 1, (case.name, failed)  # ONE message, naming the file...
            assert case.expect in mentions[0]["error"], (case.name, mentions[0])  # ...and the cause
    assert len(failed) == sum(c.expect is not None for c in cases)


def write_manifest(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["content", "style", "output"])
        writer.writerows(rows)
    return path


def test_corpus_as_contents(corpus) -> None:
    root, cases = corpus
    rows = [(str(c.path), "style.png", f"content_{c.name}.png") for c in cases]
    manifest = write_manifest(root / "contents.csv", rows)
    result = invoke("run", manifest, "--out", root / "as_content", "--skip-invalid")
    check_run(result, root / "as_content", cases, "content")
    # the animated GIF's first frame is used, and the run says so (log line and sidecar)
    assert "animated.gif: animated image with 3 frames: the first frame is used" in result.output
    sidecar = json.loads((root / "as_content" / "content_animated.gif.png.json").read_text())
    assert any("first frame" in n for n in sidecar["notes"])


def test_corpus_as_styles(corpus) -> None:
    root, cases = corpus
    rows = [("good.png", str(c.path), f"style_{c.name}.png") for c in cases]
    manifest = write_manifest(root / "styles.csv", rows)
    result = invoke("run", manifest, "--out", root / "as_style", "--skip-invalid")
    check_run(result, root / "as_style", cases, "style")


def test_corpus_as_a_photo_folder(corpus, tmp_path: Path) -> None:
    root, cases = corpus
    photos = root / "corpus"
    outside = tiny_image(tmp_path / "outside.png", 5)
    os.symlink(outside, photos / "link_out.png")  # leaves the tree: not followed
    os.symlink(photos / "gray.png", photos / "link_in.png")  # inside the tree: followed
    out = tmp_path / "out"
    result = invoke("folder", photos, "--style", root / "style.png", "--out", out)
    assert result.exit_code == 1 and "Traceback" not in result.output
    made = {p.name for p in out.glob("*.png")}
    valid = {c.path.stem for c in cases if c.expect is None}
    assert made == {f"{stem}__style.png" for stem in valid | {"link_in"}}
    failed = {Path(r["content"]).name: r["error"] for r in ledger_rows(out) if r["status"] == "failed"}
    # files that are no image at all are not photos of the folder (decided by the header, as for
    # any folder with notes or sidecars in it); those with an image header but broken or refused
    # contents are jobs, and each fails with its cause
    jobs = {c.name: c.expect for c in cases if c.expect and c.path.is_file() and mf.is_image(c.path)}
    assert {"truncated.png", "bomb.png", "sliver.png"} <= set(jobs)
    assert set(failed) == set(jobs)
    for name, expect in jobs.items():
        assert expect in failed[name] and name in failed[name], failed[name]
    # the files that are not images at all are named in one note, not silently dropped
    assert "file(s) that are not images" in result.output and "notes.jpg" in result.output


def test_bomb_limit_is_configurable_per_run(corpus, tmp_path: Path) -> None:
    root, _ = corpus
    tiny_image(tmp_path / "big.png", 3, 48)  # 2304 pixels
    manifest = write_manifest(tmp_path / "m.csv", [("big.png", str(root / "style.png"), "big_out.png")])
    result = invoke("run", manifest, "--out", tmp_path / "out", "--set", "max_pixels=2000")
    assert result.exit_code == 1
    [failure] = failures(tmp_path / "out")
    assert "big.png" in failure["error"] and "over the limit of 2,000" in failure["error"]
    assert "--set max_pixels=N" in failure["error"]  # says how to raise it
    result = invoke("run", manifest, "--out", tmp_path / "out", "--set", "max_pixels=3000")
    assert result.exit_code == 0, result.output
