"""An example pruningbench plug-in: the criterion ``FilterMean`` and the model ``tiny_cnn_plugin``.

Entry points in ``pyproject.toml`` name them; pruningbench registers them under those names the first time a list
of criteria or models is needed, so they work in configs, suites, ``pruningbench list``, the platform's forms and
the boards, with no edit to pruningbench.
"""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch import nn

from pruningbench import Criterion


class FilterMean(Criterion):
    """Mean absolute weight of each output channel's filter in the group's root layer (the L1 norm of the filter
    divided by its size): a data-free criterion in a few lines."""

    @torch.no_grad()
    def score(self, group: tp.Group) -> torch.Tensor:
        root = group[0].dep.target.module
        return root.weight[group[0].idxs].abs().flatten(1).mean(1)


def tiny_cnn(num_classes: int, in_channels: int) -> nn.Module:
    """Two conv blocks, global pooling and a classifier: small enough to train in seconds on a CPU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, num_classes),
    )
