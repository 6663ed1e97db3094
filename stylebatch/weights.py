"""VGG-19 weights: torchvision's ImageNet download, an offline file, or a seeded random init."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch and torchvision load on first use: `stylebatch status` needs neither
    import torch
    from torch import nn
from .errors import WeightsError
from .hashing import file_sha256

ENV_WEIGHTS = "STYLEBATCH_WEIGHTS"  # a weights file to use instead of the download
ENV_OFFLINE = "STYLEBATCH_OFFLINE"  # "1": never download (tests and air-gapped clusters)
RANDOM_WARNING = (
    "using RANDOM VGG-19 weights (--weights random): results are texture-like smoke-test "
    "output, not real style transfer"
)


@dataclass(frozen=True)
class WeightsInfo:
    """Where the weights came from and a stable identity (part of every job's hash)."""

    spec: str  # default | random[:seed] | a path
    identity: str  # e.g. torchvision:IMAGENET1K_V1:dcbb9e9d, random:0, file:<sha256[:16]>
    path: str | None = None

    @property
    def is_random(self) -> bool:
        return self.identity.startswith("random:")


@cache
def torchvision_weights():
    """torchvision's ImageNet VGG-19 weights entry (its URL, hash and metadata)."""
    from torchvision.models import VGG19_Weights

    return VGG19_Weights.IMAGENET1K_V1


def build_features() -> nn.Sequential:
    from .engine.vgg import build_features as build

    return build()


def default_cache_path() -> Path:
    """Where torchvision keeps the ImageNet VGG-19 file (the torch hub cache)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(torchvision_weights().url).name


def _hash_prefix() -> str:
    return Path(torchvision_weights().url).stem.rsplit("-", 1)[-1]  # vgg19-dcbb9e9d.pth -> dcbb9e9d


def _spec(spec: str | None) -> str:
    return (spec or "default").strip()


def resolve(spec: str | None = None) -> WeightsInfo:
    """Turn `--weights` (or STYLEBATCH_WEIGHTS) into a WeightsInfo without loading anything big."""
    spec = _spec(spec)
    if spec in _INSTALLED:  # a worker given the driver's weights
        return _INSTALLED[spec]
    if spec == "default" and os.environ.get(ENV_WEIGHTS):
        spec = os.environ[ENV_WEIGHTS]
    if spec == "default":
        return WeightsInfo("default", f"torchvision:IMAGENET1K_V1:{_hash_prefix()}")
    if spec == "random" or spec.startswith("random:"):
        seed = spec.partition(":")[2] or "0"
        if not seed.isdigit():
            raise WeightsError(f"--weights {spec}: the random seed must be a number")
        return WeightsInfo(spec, f"random:{int(seed)}")
    path = Path(spec).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"weights file {spec} not found (give a path to a VGG-19 state dict, 'default' or 'random')"
        )
    return WeightsInfo(str(path), f"file:{file_sha256(path)[:16]}", str(path.resolve()))


def missing_weights_message(reason: str) -> str:
    return (
        f"the VGG-19 ImageNet weights are not cached and could not be downloaded ({reason}).\n"
        "Three ways out:\n"
        "  1. on a machine with internet access: stylebatch weights download\n"
        f"     (saves {torchvision_weights().url.rsplit('/', 1)[-1]}, 548 MB, into {default_cache_path().parent})\n"
        "  2. offline: copy a weights file made elsewhere (stylebatch weights export vgg19.pth)\n"
        f"     and pass --weights vgg19.pth, or set {ENV_WEIGHTS}=/path/to/vgg19.pth\n"
        "  3. smoke test only: --weights random (random VGG-19, texture-like results)"
    )


def download(progress: bool = True) -> Path:
    """Fetch torchvision's ImageNet VGG-19 into the torch cache (if not there) and return its path."""
    path = default_cache_path()
    if path.is_file():
        return path
    if os.environ.get(ENV_OFFLINE) == "1":
        raise WeightsError(missing_weights_message(f"{ENV_OFFLINE}=1 forbids downloads"))
    path.parent.mkdir(parents=True, exist_ok=True)
    import torch

    try:
        torch.hub.download_url_to_file(
            torchvision_weights().url, str(path), hash_prefix=_hash_prefix(), progress=progress
        )
    except Exception as exc:  # no network, proxy, disk: all end in the same three ways out
        raise WeightsError(missing_weights_message(f"{type(exc).__name__}: {exc}")) from None
    return path


def load_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """Read a torchvision-format VGG-19 state dict (full or features-only) as features-only."""
    import torch
    from torch import nn

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable weights file ({exc})") from None
    if isinstance(state, nn.Module) or not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict of tensors")
    if isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    features = {}
    for key, value in state.items():
        if key.startswith("classifier."):
            continue
        features[key.removeprefix("features.")] = value
    return features


def check_shapes(state: dict[str, torch.Tensor], path: object) -> None:
    expected = build_features().state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise WeightsError(f"{path}: not VGG-19 weights (missing {', '.join(missing[:4])} ...)")
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise WeightsError(
                f"{path}: {key} has shape {tuple(state[key].shape)}, VGG-19 needs {tuple(tensor.shape)}"
            )


def random_features(seed: int) -> nn.Sequential:
    """VGG-19 features initialised as torchvision does (Kaiming normal, zero bias), seeded."""
    import torch
    from torch import nn

    features = build_features()
    gen = torch.Generator().manual_seed(seed)
    for m in features:
        if isinstance(m, nn.Conv2d):
            fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
            with torch.no_grad():
                m.weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=gen)
                m.bias.zero_()
    return features


_FEATURES: dict[str, nn.Sequential] = {}


def load_features(info: WeightsInfo, progress: bool = True) -> nn.Sequential:
    """VGG-19 `features` with the given weights, on the CPU; cached per process."""
    if info.identity in _FEATURES:
        return _FEATURES[info.identity]
    if info.is_random:
        features = random_features(int(info.identity.split(":")[1]))
    else:
        path = Path(info.path) if info.path else download(progress=progress)
        state = load_state_dict(path)
        check_shapes(state, path)
        features = build_features()
        features.load_state_dict({k: state[k] for k in features.state_dict()})
    features.requires_grad_(False).eval()
    _FEATURES[info.identity] = features
    return features


def ensure(spec: str | None) -> WeightsInfo:
    """On the driver, before any worker starts: resolve and load the weights (downloading them if
    allowed), so a missing file or download fails once, here, with the three ways out."""
    info = resolve(spec)
    if not info.is_random:  # random weights are rebuilt from their seed wherever they are needed
        load_features(info)
    _ENSURED[_spec(spec)] = info
    return info


_ENSURED: dict[str, WeightsInfo] = {}  # on the driver: what each spec meant when it was loaded


def ensured(spec: str | None) -> WeightsInfo:
    """What `ensure` resolved `spec` to (calling it the first time)."""
    return _ENSURED.get(_spec(spec)) or ensure(spec)


Shipped = tuple[str, WeightsInfo, "dict[str, torch.Tensor]"]  # (spec as given, resolved, features)
_SHIPPED: dict[tuple[str, str, str], object] = {}  # (Ray job id, spec, identity) -> object ref
_INSTALLED: dict[str, WeightsInfo] = {}  # on a worker: spec -> the driver's resolution of it


def share(spec: str | None) -> object | None:
    """The driver's loaded features as a Ray object (once per spec and Ray session), for workers
    to `install`: nodes need neither internet nor a shared file, and N workers never download
    N copies. None for random weights (each worker builds them from the seed)."""
    info = ensured(spec)
    if info.is_random:
        return None
    import ray

    key = (ray.get_runtime_context().get_job_id(), _spec(spec), info.identity)
    if key not in _SHIPPED:
        state = {k: v.detach().contiguous() for k, v in load_features(info).state_dict().items()}
        _SHIPPED[key] = ray.put((_spec(spec), info, state))
    return _SHIPPED[key]


def install(shipped: Shipped | None) -> None:
    """On a worker: take the driver's weights, so `resolve` and `load_features` never look for a
    file or a download here (the spec means what it meant on the driver)."""
    if shipped is None:
        return
    spec, info, state = shipped
    _INSTALLED[spec] = info
    if info.identity not in _FEATURES:
        features = build_features()
        features.load_state_dict(state)
        _FEATURES[info.identity] = features.requires_grad_(False).eval()


def verify(path: Path | str | None = None) -> dict[str, str]:
    """Check a weights file (default: the cached download): VGG-19 shapes, and the hash if known."""
    target = Path(path) if path else default_cache_path()
    if not target.is_file():
        raise WeightsError(
            f"{target}: no such file" + ("" if path else " (run `stylebatch weights download` first)")
        )
    state = load_state_dict(target)
    check_shapes(state, target)
    digest = file_sha256(target)
    report = {"path": str(target), "sha256": digest, "tensors": str(len(state))}
    if target.name == Path(torchvision_weights().url).name:
        if not digest.startswith(_hash_prefix()):
            raise WeightsError(
                f"{target}: SHA-256 {digest[:16]}... does not match torchvision's {_hash_prefix()}"
                " (a corrupt or partial download: delete it and download again)"
            )
        report["matches"] = f"torchvision {torchvision_weights()} ({_hash_prefix()})"
    return report


def export(out: Path | str, spec: str | None = None) -> Path:
    """Write a features-only state dict (~80 MB) for offline workers; atomic."""
    import torch

    info = resolve(spec)
    features = load_features(info)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {f"features.{k}": v.contiguous() for k, v in features.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
