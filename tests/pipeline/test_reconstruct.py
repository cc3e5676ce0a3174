import copy

import torch
from torch import nn

from pruningbench.config import PruneConfig
from pruningbench.methods.importance import create_criterion
from pruningbench.models import create_model
from pruningbench.pipeline.group import build_groups
from pruningbench.pipeline.prune import prune_to_speedup
from pruningbench.pipeline.reconstruct import reconstruct_consumers


def _linear_net() -> nn.Sequential:
    """1x1 conv → 1x1 conv, no activation; channel 3 of the first conv is channel 0 + channel 1."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.Conv2d(4, 2, 3, padding=1), nn.Flatten(), nn.Linear(32, 3))
    with torch.no_grad():
        model[0].weight[3] = model[0].weight[0] + model[0].weight[1]
    return model


def test_redundant_channel_is_reconstructed_exactly():
    model = _linear_net()
    original = copy.deepcopy(model)
    graph, groups = build_groups(model, torch.randn(1, 3, 4, 4))
    first = next(g for g in groups if g.root is model[0])
    graph.get_pruning_group(first.root, first.prune_fn, [3]).prune()
    probe = torch.randn(5, 3, 4, 4)
    assert not torch.allclose(model[1](model[0](probe)), original[1](original[0](probe)), atol=1e-3)

    batches = [(torch.randn(16, 3, 4, 4), torch.zeros(16, dtype=torch.long)) for _ in range(2)]
    refitted = reconstruct_consumers(original, model, batches, removed_outputs={"0": [3]}, seed=0)
    assert refitted == ["1"]  # only the conv that lost an input channel
    assert torch.allclose(model[1](model[0](probe)), original[1](original[0](probe)), atol=1e-4)


def test_reconstruction_option_reduces_the_output_error_of_a_pruned_resnet():
    generator = torch.Generator().manual_seed(0)
    calibration = [(torch.randn(32, 1, 28, 28, generator=generator), torch.randint(0, 10, (32,), generator=generator))]
    probe = torch.randn(16, 1, 28, 28, generator=generator)
    base = create_model("resnet8_quick", num_classes=10, in_channels=1).eval()
    with torch.no_grad():
        reference = base(probe)
    errors = {}
    for mode in ("none", "least_squares"):
        model = copy.deepcopy(base)
        config = PruneConfig(speedup=1.5, reconstruct=mode)
        prune_to_speedup(model, create_criterion("MagnitudeL2"), probe[:1], config, calibration)
        with torch.no_grad():
            errors[mode] = (model.eval()(probe) - reference).pow(2).mean().item()
    assert errors["least_squares"] < 0.5 * errors["none"]
