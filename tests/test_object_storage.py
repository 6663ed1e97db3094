"""Runs that read and write object storage: a real S3 API on loopback (moto in server mode), the
session's Ray workers reading inputs and writing outputs themselves, the ledger on local disk."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from stylebatch import storage
from stylebatch.batch import scheduler
from stylebatch.batch.ledger import Ledger
from stylebatch.cli import app
from stylebatch.cli import batch as batch_cli

from .conftest import S3_ENV, release_s3_port, synthetic_photo, synthetic_style

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

FAST = [
    "--weights", "random", "--size", "32", "--steps", "2", "--set", "coarse_steps=1",
    "--set", "scales=1", "--device", "cpu", "--quiet", "--workers", "2",
]  # fmt: skip
BUCKET = "night"


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _fresh_clients() -> None:
    """s3fs caches one client per configuration: make the next call read the environment again."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="module")
def s3(ray_session):
    """A moto S3 server on the port the session's workers were told (conftest.S3_ENV), with a
    bucket of three photos, a style and a manifest."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=release_s3_port(), verbose=False)
    # start() waits for ever if its thread cannot listen: wait for it a bounded time instead
    starting = threading.Thread(target=server.start, daemon=True)
    starting.start()
    starting.join(60)
    if starting.is_alive():
        pytest.fail(f"moto's S3 server did not start on {S3_ENV['AWS_ENDPOINT_URL']}")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in S3_ENV.items():
            mp.setenv(key, value)
        _fresh_clients()
        fs, _ = storage.filesystem(f"s3://{BUCKET}")
        fs.mkdir(BUCKET)
        for i in range(3):
            fs.pipe_file(f"{BUCKET}/photos/p{i}.png", _png(synthetic_photo(40, 32, seed=i)))
        fs.pipe_file(f"{BUCKET}/styles/stripes.png", _png(synthetic_style(32)))
        rows = "".join(f"photos/p{i}.png,styles/stripes.png\n" for i in range(3))
        fs.pipe_file(f"{BUCKET}/night.csv", f"content,style\n{rows}".encode())
        yield fs
        _fresh_clients()
    server.stop()
    scheduler.release_workers()


def invoke(*args: object):
    return CliRunner().invoke(app, [*map(str, args), *FAST])


def last_run(state: Path) -> dict:
    ledger = Ledger(state, readonly=True)
    try:
        return ledger.last_run()
    finally:
        ledger.close()


def objects(fs, prefix: str) -> dict[str, bytes]:
    return {k.split(f"{prefix}/", 1)[1]: fs.cat_file(k) for k in fs.find(prefix)}


@pytest.fixture
def driver_reads(s3, monkeypatch: pytest.MonkeyPatch):
    """Every object download this (the driver's) process makes through the shared S3 client, in
    order; the report's start is marked."""
    seen: list[str] = []
    real = s3.cat_file

    def counted(path, *args, **kw):
        seen.append(f"s3://{path}")
        return real(path, *args, **kw)

    monkeypatch.setattr(s3, "cat_file", counted)
    real_report = batch_cli._report

    def report(*args, **kw):
        seen.append("report starts")
        return real_report(*args, **kw)

    monkeypatch.setattr(batch_cli, "_report", report)
    return seen


def test_bucket_to_bucket_resume_and_changed_input(s3, tmp_path: Path, driver_reads) -> None:
    out = f"s3://{BUCKET}/styled/"
    state = tmp_path / "state"
    result = invoke("run", f"s3://{BUCKET}/night.csv", "--out", out, "--state", state)
    assert result.exit_code == 0, result.output
    made = objects(s3, f"{BUCKET}/styled")
    for i in range(3):
        name = f"photos/p{i}__stripes.png"
        assert Image.open(io.BytesIO(made[name])).size == (32, 26)  # workers wrote it
        side = json.loads(made[f"{name}.json"])
        assert side["inputs"]["content"] == f"s3://{BUCKET}/photos/p{i}.png"
    assert "report.html" in made and (state / "ledger.sqlite").exists()
    # the driver read the manifest, and no input until the run was over (the report then draws
    # thumbnails of the jobs it shows: each input once)
    inputs = {f"s3://{BUCKET}/photos/p{i}.png" for i in range(3)} | {f"s3://{BUCKET}/styles/stripes.png"}
    assert driver_reads[: driver_reads.index("report starts")] == [f"s3://{BUCKET}/night.csv"]
    assert set(driver_reads) & inputs == inputs

    again = invoke("run", f"s3://{BUCKET}/night.csv", "--out", out, "--state", state)
    assert again.exit_code == 0, again.output
    assert (last_run(state)["skipped"], last_run(state)["started_jobs"]) == (3, 0)
    # a lost ledger (a new pod, another --state): rebuilt from the sidecars in the bucket
    elsewhere = tmp_path / "other-state"
    assert invoke("run", f"s3://{BUCKET}/night.csv", "--out", out, "--state", elsewhere).exit_code == 0
    assert (last_run(elsewhere)["skipped"], last_run(elsewhere)["started_jobs"]) == (3, 0)

    s3.pipe_file(f"{BUCKET}/photos/p1.png", _png(synthetic_photo(40, 32, seed=7)))  # one input changes
    before = {k: v for k, v in objects(s3, f"{BUCKET}/styled").items() if k.startswith("photos/")}
    rerun = invoke("run", f"s3://{BUCKET}/night.csv", "--out", out, "--state", state)
    assert rerun.exit_code == 0, rerun.output
    assert (last_run(state)["skipped"], last_run(state)["done"]) == (2, 1)
    after = {k: v for k, v in objects(s3, f"{BUCKET}/styled").items() if k.startswith("photos/")}
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {"photos/p1__stripes.png", "photos/p1__stripes.png.json"}


def test_an_output_without_its_sidecar_is_redone(s3, tmp_path: Path) -> None:
    """A run killed between a worker's two uploads leaves an image with no sidecar naming its job:
    never taken for a finished job (an upload itself is whole or absent: S3's PUT semantics)."""
    out = f"s3://{BUCKET}/killed/"
    manifest = tmp_path / "one.csv"
    manifest.write_text(f"content,style\ns3://{BUCKET}/photos/p2.png,s3://{BUCKET}/styles/stripes.png\n")
    s3.pipe_file(f"{BUCKET}/killed/p2__stripes.png", b"\x89PNG half of an image")
    result = invoke("run", manifest, "--out", out, "--state", tmp_path / "st")
    assert result.exit_code == 0, result.output
    assert Image.open(io.BytesIO(s3.cat_file(f"{BUCKET}/killed/p2__stripes.png"))).size == (32, 26)
    assert s3.exists(f"{BUCKET}/killed/p2__stripes.png.json")
    assert "device not recorded" not in (tmp_path / "st" / "report.html").read_text()


def test_status_and_report_find_a_remote_run_by_its_url(s3, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = f"s3://{BUCKET}/by-url/"
    manifest = tmp_path / "one.csv"  # a local manifest naming storage objects
    manifest.write_text(f"content,style\ns3://{BUCKET}/photos/p0.png,s3://{BUCKET}/styles/stripes.png\n")
    assert invoke("run", manifest, "--out", out).exit_code == 0
    state = storage.state_dir(out)
    assert state.is_relative_to(tmp_path / "cache") and (state / "ledger.sqlite").exists()
    info = json.loads(CliRunner().invoke(app, ["status", out, "--json"]).stdout)
    assert info["done"] == 1
    report = CliRunner().invoke(app, ["report", out])
    assert report.exit_code == 0, report.output
    assert s3.exists(f"{BUCKET}/by-url/p0__stripes.png.json")


def test_bad_urls_and_missing_objects_are_bad_rows(s3, tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "content,style\n"
        f"s3://{BUCKET}/photos/p0.png,s3://{BUCKET}/styles/stripes.png\n"
        f"s3://{BUCKET}/photos/missing.png,s3://{BUCKET}/styles/stripes.png\n"
        f"s3://no-such-bucket-here/q.png,s3://{BUCKET}/styles/stripes.png\n"
        f"nosuchscheme://x/p.png,s3://{BUCKET}/styles/stripes.png\n"
    )
    out = tmp_path / "out"
    refused = invoke("run", manifest, "--out", out)
    assert refused.exit_code == 2
    text = " ".join(refused.output.split())
    assert f"line 3, content: s3://{BUCKET}/photos/missing.png: not found" in text
    assert "line 4, content: s3://no-such-bucket-here/q.png: not found" in text
    assert "line 5, content: nosuchscheme://x/p.png" in text
    assert "line 2" not in text
    ran = invoke("run", manifest, "--out", out, "--skip-invalid")
    assert ran.exit_code == 1  # the bad rows are failed jobs; the good one ran
    assert Image.open(out / "p0__stripes.png").size == (32, 26)


def test_no_credentials_is_one_clear_line_per_row(s3, tmp_path: Path, monkeypatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    _fresh_clients()
    try:
        result = invoke("run", f"s3://{BUCKET}/night.csv", "--out", tmp_path / "out")
    finally:
        _fresh_clients()
    assert result.exit_code == 2
    assert "no storage credentials found" in " ".join(result.output.split())
    assert "testing" not in result.output


def test_a_bucket_that_refuses_writes_stops_before_any_work(s3, tmp_path: Path) -> None:
    result = invoke(
        "run", f"s3://{BUCKET}/night.csv", "--out", "s3://no-such-bucket/out/", "--state", tmp_path / "st"
    )
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "--out: cannot write s3://no-such-bucket/out/" in text and "nothing was run" in text


def test_folder_mode_lists_a_prefix_by_content(s3, tmp_path: Path) -> None:
    s3.pipe_file(f"{BUCKET}/album/a.jpg", _png(synthetic_photo(40, 32, seed=3)))  # a PNG named .jpg
    s3.pipe_file(f"{BUCKET}/album/sub/b.png", _png(synthetic_photo(40, 32, seed=4)))
    s3.pipe_file(f"{BUCKET}/album/notes.png", b"not an image at all")
    out = f"s3://{BUCKET}/album-styled/"
    result = invoke(
        "folder", f"s3://{BUCKET}/album/", "--style", f"s3://{BUCKET}/styles/stripes.png", "--out", out,
        "--state", tmp_path / "st",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    made = objects(s3, f"{BUCKET}/album-styled")
    assert {"a__stripes.png", "sub/b__stripes.png"} <= set(made)
    assert not any(k.startswith("notes") for k in made)


def test_storage_helpers() -> None:
    url = storage.location("s3://b/photos/x.png")
    assert isinstance(url, storage.Url) and url.name == "x.png" and url.suffix == ".png"
    assert url.parent == "s3://b/photos" and url.relative_to("s3://b/") == "photos/x.png"
    assert storage.join(storage.Url("s3://b/m"), "../p.png") == "s3://b/p.png"
    assert storage.location("file:///tmp/a%20b.png") == Path("/tmp/a b.png")
    assert not storage.is_url("C:/photos") and not storage.is_url("file:///x")
    assert storage.version({"ETag": '"1"', "size": 3}) != storage.version({"ETag": '"2"', "size": 3})
    assert os.path.basename(storage.state_dir("s3://b/out/", Path("/x"))).startswith("b_out-")


def test_video_from_and_to_a_bucket(s3, tmp_path: Path) -> None:
    from .video_clips import pan_frames, write_clip

    clip = write_clip(pan_frames(4, 32, 24), tmp_path / "clip.mp4")
    s3.pipe_file(f"{BUCKET}/clips/clip.mp4", clip.read_bytes())
    args = ["video", f"s3://{BUCKET}/clips/clip.mp4", "--style", f"s3://{BUCKET}/styles/stripes.png"]
    args += ["--out", f"s3://{BUCKET}/clips/clip_styled.mp4", "--run-dir", str(tmp_path / "run")]
    args += ["--weights", "random", "--size", "32", "--steps", "1", "--set", "scales=1", "--device", "cpu"]
    args += ["--set", "video.first_frame_steps=1", "--temporal", "previous", "--quiet", "--workers", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert s3.info(f"{BUCKET}/clips/clip_styled.mp4")["size"] > 0
    assert (tmp_path / "run" / "inputs" / "clip.mp4").read_bytes() == clip.read_bytes()
