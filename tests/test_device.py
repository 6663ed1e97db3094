"""Which device each job ran on (issue 12): the sidecar, the terminal (per worker, and one line
when `--device auto` found no GPU), the run's summary; the report shows it (tests/test_report.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from typer.testing import CliRunner

from stylebatch import metadata
from stylebatch.batch import imagerun, scheduler
from stylebatch.cli import app

from .conftest import synthetic_photo, synthetic_style


def test_device_is_described_and_cpu_fallback_said_once() -> None:
    threads = torch.get_num_threads()
    assert metadata.describe_device("cpu") == f"cpu ({threads} thread{'s' if threads != 1 else ''})"
    if not torch.cuda.is_available():
        assert metadata.describe_device("auto").startswith("cpu (")
        assert metadata.describe_device("cuda:3").startswith("cuda:3 (")  # refused later, never here
    assert "no CUDA GPU found" in metadata.cpu_fallback_note("auto", "cpu (2 threads)")
    assert metadata.cpu_fallback_note(None, "cpu (2 threads)") is not None
    assert metadata.cpu_fallback_note("cpu", "cpu (2 threads)") is None  # asked for: no note
    assert metadata.cpu_fallback_note("auto", "cuda:0 (NVIDIA H100)") is None


def test_sidecar_and_terminal_say_the_device(tmp_path: Path, ray_session, monkeypatch) -> None:
    synthetic_photo(40, 32).save(tmp_path / "a.png")
    synthetic_style(32).save(tmp_path / "s.png")
    (tmp_path / "m.csv").write_text("content,style\na.png,s.png\n")
    monkeypatch.setattr(imagerun, "POLL_SECONDS", 0.05)
    args = ["run", str(tmp_path / "m.csv"), "--out", str(tmp_path / "o"), "--weights", "random", "--size", "32",
            "--steps", "15", "--set", "scales=1", "--set", "progress_every=1", "--workers", "1"]  # fmt: skip
    try:
        result = CliRunner().invoke(app, args)
    finally:
        scheduler.release_workers()
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "o" / "a__s.png.json").read_text())
    assert re.fullmatch(r"cpu \(\d+ threads?\)", sidecar["device"])
    assert re.search(r"worker w\d+ on .+: cpu \(\d+ threads?\)", result.output)  # when it starts
    assert result.output.count("no CUDA GPU found") == 1  # --device auto on a CPU machine: one line
    assert re.search(r"ran on\s+│\s+cpu \(\d+ threads?\): 1 job", result.output)  # the summary


def test_image_command_says_the_device(photo_path: Path, style_path: Path, tmp_path: Path) -> None:
    tiny = ["--size", "32", "--steps", "2", "--set", "scales=1", "--weights", "random"]
    args = ["image", str(photo_path), str(style_path), "-o", str(tmp_path / "o.png"), *tiny]
    auto = CliRunner().invoke(app, args)
    assert auto.exit_code == 0, auto.output
    assert re.search(r"s on (cpu \(\d+ threads?\)|cuda:\d+ \(.+\)),", auto.output)
    gpu = torch.cuda.is_available()
    assert auto.output.count("no CUDA GPU found") == (0 if gpu else 1)
    asked = CliRunner().invoke(app, [*args, "--device", "cpu"])
    assert asked.exit_code == 0 and "no CUDA GPU found" not in asked.output  # the user chose the CPU
    assert json.loads((tmp_path / "o.png.json").read_text())["device"].startswith("cpu (")
