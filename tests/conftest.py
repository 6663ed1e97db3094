"""Shared fixtures: tiny synthetic images, offline weights, one Ray session for the whole run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Tests never download: the default weights path raises at once instead of fetching.
os.environ["STYLEBATCH_OFFLINE"] = "1"
os.environ.pop("STYLEBATCH_WEIGHTS", None)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The loopback S3 of test_object_storage.py (moto, started on demand), known before Ray starts so
# the session's workers find it the standard way: environment variables, as on a real cluster.
S3_ENV = {
    "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


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
