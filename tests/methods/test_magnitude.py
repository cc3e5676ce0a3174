import pytest
import torch
from torch import nn

from pruningbench.methods.importance import CRITERIA, create_criterion
from pruningbench.pipeline.group import build_groups


def _conv_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 3), nn.Flatten(), nn.LazyLinear(2))


def _first_group(model: nn.Module):
    model(torch.randn(1, 3, 8, 8))  # materialize the lazy layer
    _, groups = build_groups(model, torch.randn(1, 3, 8, 8))
    return next(g for g in groups if g.root is model[0])


@pytest.mark.parametrize("name", ["MagnitudeL1", "MagnitudeL2"])
def test_planted_tiny_channel_scores_lowest_and_large_channel_highest(name):
    model = _conv_net()
    with torch.no_grad():
        model[0].weight[5].mul_(1e-4)  # channel 5: tiny filter, tiny BN scale, tiny next-layer slice
        model[1].weight[5] = 1e-4
        model[3].weight[:, 5].mul_(1e-4)
        model[0].weight[2].mul_(50)  # channel 2: clearly important
    scores = create_criterion(name).score(_first_group(model).group)
    assert scores.shape == (8,)
    assert scores.argmin().item() == 5 and scores.argmax().item() == 2


def test_l1_and_l2_differ_as_their_norms_do():
    """Two channels with equal L1 but different L2 mass: L2 prefers the concentrated one, L1 ties them."""
    model = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.ReLU(), nn.Conv2d(2, 1, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([1.0, 1.0]).view(2, 1, 1, 1))
        model[2].weight.copy_(torch.tensor([1.0, 1.0]).view(1, 2, 1, 1))
    _, groups = build_groups(model, torch.randn(1, 1, 4, 4))
    l1 = create_criterion("MagnitudeL1").score(groups[0].group)
    l2 = create_criterion("MagnitudeL2").score(groups[0].group)
    assert torch.allclose(l1, l1[0]) and torch.allclose(l2, l2[0])
    with torch.no_grad():
        model[0].weight[0] = 2.0  # channel 0: L1 mass 3 vs 2, squared mass 5 vs 2
    l1 = create_criterion("MagnitudeL1").score(groups[0].group)
    l2 = create_criterion("MagnitudeL2").score(groups[0].group)
    assert l1[0] / l1[1] == pytest.approx(3 / 2) and l2[0] / l2[1] == pytest.approx(5 / 2)


def test_registry_has_the_magnitude_criteria():
    assert {"MagnitudeL1", "MagnitudeL2"} <= set(CRITERIA.names())
