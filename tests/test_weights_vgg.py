"""VGG-19 features and weights: names, truncation, pooling, random/file/offline weights."""

import pickle

import pytest
import torch
from torchvision.models import vgg19

from stylebatch import weights
from stylebatch.engine.vgg import LAYER_INDEX, VGGFeatures, min_side
from stylebatch.errors import WeightsError


def test_layer_names_match_torchvision_indices():
    assert LAYER_INDEX["conv1_1"] == 0 and LAYER_INDEX["relu1_1"] == 1
    assert LAYER_INDEX["relu4_2"] == 22 and LAYER_INDEX["relu5_1"] == 29
    assert LAYER_INDEX["pool5"] == 36
    assert min_side(["relu5_1"]) == 16 and min_side(["relu1_1"]) == 1


def test_truncated_frozen_and_normalised():
    features = weights.random_features(0)
    model = VGGFeatures(features, ["relu4_2", "relu1_1", "conv3_1"], pooling="avg")
    assert len(model.net) == 23  # up to relu4_2, nothing deeper
    assert not any(p.requires_grad for p in model.parameters())
    assert any(isinstance(m, torch.nn.AvgPool2d) for m in model.net)
    out = model(torch.rand(1, 3, 32, 32))
    assert list(out) == ["relu1_1", "conv3_1", "relu4_2"]
    assert (out["conv3_1"] < 0).any() and (out["relu4_2"] >= 0).all()  # pre- and post-ReLU
    # ImageNet normalisation happens inside: the same as normalising outside with a bare stack
    x = torch.rand(1, 3, 16, 16)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    bare = features[:2]((x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1))
    assert torch.allclose(VGGFeatures(features, ["relu1_1"])(x)["relu1_1"], bare, atol=1e-6)


def test_random_weights_are_seeded_and_identified():
    a, b = weights.random_features(3), weights.random_features(3)
    assert torch.equal(a[0].weight, b[0].weight)
    assert not torch.equal(a[0].weight, weights.random_features(4)[0].weight)
    assert weights.resolve("random").identity == "random:0"
    assert weights.resolve("random:5").is_random


def test_export_then_load_file_and_verify(tmp_path):
    out = weights.export(tmp_path / "vgg.pth", "random:2")
    info = weights.resolve(str(out))
    assert info.identity.startswith("file:")
    loaded = weights.load_features(info)
    assert torch.equal(loaded[28].weight, weights.random_features(2)[28].weight)
    report = weights.verify(out)
    assert report["sha256"] == weights.file_sha256(out)


def test_full_torchvision_state_dict_is_accepted(tmp_path):
    state = vgg19(weights=None).state_dict()  # features.* and classifier.*
    torch.save(state, tmp_path / "full.pth")
    features = weights.load_features(weights.resolve(str(tmp_path / "full.pth")))
    assert torch.equal(features[0].weight, state["features.0.weight"])


def test_wrong_shapes_and_pickled_code_are_refused(tmp_path):
    torch.save({"0.weight": torch.zeros(3, 3)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="not VGG-19 weights"):
        weights.verify(tmp_path / "bad.pth")
    state = {f"features.{k}": v for k, v in weights.random_features(0).state_dict().items()}
    state["features.0.weight"] = torch.zeros(1, 1, 1, 1)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match="shape"):
        weights.verify(tmp_path / "shape.pth")
    # weights_only=True: a pickle that would run code is not loaded
    (tmp_path / "evil.pth").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(WeightsError, match="not a readable weights file"):
        weights.load_state_dict(tmp_path / "evil.pth")
    assert not (tmp_path / "pwned").exists()


class Evil:
    def __reduce__(self):
        return (open, ("pwned", "w"))


def test_offline_default_weights_give_the_three_ways_out(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv(weights.ENV_OFFLINE, "1")
    with pytest.raises(WeightsError) as err:
        weights.download()
    text = str(err.value)
    assert "stylebatch weights download" in text and "--weights" in text and "--weights random" in text
    assert weights.ENV_WEIGHTS in text


def test_env_variable_and_missing_file(tmp_path, monkeypatch):
    path = weights.export(tmp_path / "w.pth", "random:1")
    monkeypatch.setenv(weights.ENV_WEIGHTS, str(path))
    assert weights.resolve(None).path == str(path.resolve())
    assert weights.resolve("random").is_random  # an explicit choice wins over the variable
    with pytest.raises(WeightsError, match="not found"):
        weights.resolve(str(tmp_path / "missing.pth"))
