"""Scale-free losses: scaling one VGG layer's weights and bias leaves the default result unchanged."""

from __future__ import annotations

import pytest
import torch

from stylebatch import pipelines, weights
from stylebatch.engine import stylize_tensors
from stylebatch.engine.vgg import LAYER_INDEX


@pytest.mark.parametrize("layer", ["conv2_1"])
def test_scaling_a_layer_does_not_change_the_default_result(tmp_path, layer):
    state = {k: v.clone() for k, v in weights.load_features(weights.resolve("random")).state_dict().items()}
    plain, scaled = tmp_path / "vgg19-plain.pth", tmp_path / "vgg19-scaled.pth"
    torch.save(state, plain)
    index = LAYER_INDEX[layer]
    # ReLU and pooling are positively homogeneous: every later feature map scales by 8. A power
    # of two scales floats exactly, so the scale-free result must come out (nearly) bit for bit.
    state[f"{index}.weight"] *= 8.0
    state[f"{index}.bias"] *= 8.0
    torch.save(state, scaled)

    gen = torch.Generator().manual_seed(0)
    content, style = torch.rand(1, 3, 40, 48, generator=gen), torch.rand(1, 3, 48, 48, generator=gen)
    results = []
    for path in (plain, scaled):
        cfg = pipelines.load(
            "default", {"size": 48, "steps": 6, "weights": str(path), "device": "cpu", "progress_every": 3}
        )
        results.append(stylize_tensors(content, [style], cfg))
    a, b = results
    assert b.losses["total"] == pytest.approx(a.losses["total"], rel=1e-5)
    assert (a.image - b.image).abs().max() < 1e-5
