"""A small conv net whose channels can be planted with known importance, and the group of its first layer."""

import torch
from torch import nn

from pruningbench.pipeline.group import build_groups

WIDTH = 9  # channels of the scored group


def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, WIDTH, 3, padding=1),
        nn.BatchNorm2d(WIDTH),
        nn.ReLU(),
        nn.Conv2d(WIDTH, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 4),
    )


def first_group(model: nn.Module):
    """All DepGraph groups of ``model`` and the one rooted at its first conv."""
    _, groups = build_groups(model, torch.randn(1, 3, 8, 8))
    return [g.group for g in groups], next(g.group for g in groups if g.root is model[0])


def batches(count: int = 2, size: int = 16) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(size, 3, 8, 8, generator=generator), torch.randint(0, 4, (size,), generator=generator)) for _ in range(count)]


def randomize_bn(model: nn.Module) -> None:
    """Non-trivial BatchNorm statistics and affine parameters, as in a trained network."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
