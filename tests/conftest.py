"""Shared fixtures: tiny synthetic images, offline weights, one Ray session for the whole run."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Tests never download: the default weights path raises at once instead of fetching.
os.environ["STYLEBATCH_OFFLINE"] = "1"
os.environ.pop("STYLEBATCH_WEIGHTS", None)
# Nor touch the user's cache (resume points, run states): the session has its own, which its Ray
# workers and subprocesses inherit, so one test's resume point can never feed another run.
_CACHE = tempfile.mkdtemp(prefix="stylebatch-tests-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _reserve_port() -> socket.socket:
    """A loopback port held by a listening socket until its server takes it (`release_s3_port`):
    a port only looked up and let go can be taken by one of Ray's processes in the meantime."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


_S3_PORT = _reserve_port()

# The loopback S3 of test_object_storage.py (moto, started on demand), known before Ray starts so
# the session's workers find it the standard way: environment variables, as on a real cluster.
S3_ENV = {
    "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_S3_PORT.getsockname()[1]}",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_MAX_ATTEMPTS": "2",  # a loopback server that fails fails at once, not after retries
    "NO_PROXY": "127.0.0.1,localhost",  # a machine's HTTP proxy never carries loopback requests
}


def release_s3_port() -> int:
    """Free the reserved S3 port for the server about to listen on it."""
    port = _S3_PORT.getsockname()[1]
    _S3_PORT.close()
    return port


def synthetic_photo(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    """A smooth gradient with a few shapes: enough structure for content features."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 0.5 + 0.5 * np.sin(x / width * 3.1 + seed)
    g = y / max(height - 1, 1)
    b = 0.5 + 0.5 * np.cos((x + y) / (width + height) * 6.2)
    img = np.stack([r, g, b], -1)
    for _ in range(3):
        cx, cy, rad = rng.integers(0, width), rng.integers(0, height), rng.integers(4, 12)
        img[(x - cx) ** 2 + (y - cy) ** 2 < rad**2] = rng.random(3)
    return Image.fromarray((img * 255).astype(np.uint8), "RGB")


def synthetic_style(size: int = 48, seed: int = 1) -> Image.Image:
    """Diagonal coloured stripes: a strong, easy-to-measure texture."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    stripes = (np.sin((x + y) / 3.0 + seed) > 0).astype(np.float32)
    img = np.stack([stripes, 0.2 + 0.6 * (1 - stripes), 0.9 * stripes], -1)
    return Image.fromarray((img * 255).astype(np.uint8), "RGB")


@pytest.fixture(scope="module")
def content():
    """The engine tests' content image, [1, 3, 40, 48] in [0, 1]."""
    from stylebatch.images import pil_to_tensor

    return pil_to_tensor(synthetic_photo(48, 40))


@pytest.fixture(scope="module")
def style():
    """The engine tests' style image, [1, 3, 40, 40] in [0, 1]."""
    from stylebatch.images import pil_to_tensor

    return pil_to_tensor(synthetic_style(40))


@pytest.fixture
def photo_path(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    synthetic_photo().save(path)
    return path


@pytest.fixture
def style_path(tmp_path: Path) -> Path:
    path = tmp_path / "style.png"
    synthetic_style().save(path)
    return path


@pytest.fixture
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED


TINY = dict(size=48, steps=8, coarse_steps=4, weights="random", device="cpu", progress_every=2)


@pytest.fixture(scope="session")
def faults_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tests list the faults the session's Ray workers inject (see faultplug.py)."""
    return tmp_path_factory.mktemp("faults") / "faults.json"


@pytest.fixture(scope="session")
def ray_session(faults_file: Path):
    """One local Ray instance for the whole test session (actors are reused across tests).

    Every worker process runs faultplug.install_faults first (Ray's worker_process_setup_hook), so
    a test can make a job kill its worker or run out of memory with no hook in stylebatch.
    """
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        from .faultplug import FAULTS_ENV

        root = str(Path(__file__).resolve().parents[1])  # workers import `tests.faultplug` from here
        path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), root) if p)
        ray.init(
            address="local",
            num_cpus=2,
            num_gpus=0,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=100 * 1024**2,
            runtime_env={
                "worker_process_setup_hook": "tests.faultplug.install_faults",
                "env_vars": {FAULTS_ENV: str(faults_file), "PYTHONPATH": path, **S3_ENV},
            },
        )
    yield ray
    ray.shutdown()


@pytest.fixture
def faults(faults_file: Path):
    """`faults(crash_once=[...], crash_always=[...], oom=[...])`: input names whose jobs fail so
    in the session's Ray workers, until the test ends."""
    from .faultplug import write_faults

    yield lambda **kinds: write_faults(faults_file, **kinds)
    write_faults(faults_file)


def pytest_terminal_summary(terminalreporter) -> None:
    """The machine the tests ran on, last in the output: a run that failed for want of memory,
    disk or descriptors says so where CI logs are read (the tail)."""
    import resource

    proc = Path("/proc/meminfo")
    meminfo = dict(line.split(":", 1) for line in (proc.read_text().splitlines() if proc.exists() else []))
    mem = " ".join(
        f"{k}={meminfo[k].strip()}" for k in ("MemTotal", "MemAvailable", "SwapFree") if k in meminfo
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    free_gb = shutil.disk_usage(tempfile.gettempdir()).free / 1e9
    files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    terminalreporter.write_line(
        f"machine: {os.cpu_count()} CPUs, {mem}; pytest peak RSS {peak_mb:.0f} MB; "
        f"{free_gb:.1f} GB free in {tempfile.gettempdir()}; open files limit {files}"
    )
