"""Weight-magnitude criteria (Li et al., "Pruning Filters for Efficient ConvNets", ICLR 2017).

A channel's score is ``sum |w|^p`` over every weight that belongs to it in its DepGraph group (conv/linear filters and
input slices, BatchNorm affine parameters), averaged over the group's layers: Torch-Pruning's group magnitude (for
p=2 the squared L2 norm, which ranks channels exactly as the L2 norm does), used unnormalized (the prune stage
normalizes per group).
"""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch import nn

from pruningbench.methods.importance import CRITERIA, Criterion

GROUP_LAYER_TYPES = [nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._BatchNorm, nn.LayerNorm]


class _Magnitude(Criterion):
    p: int

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self._importance = tp.importance.GroupMagnitudeImportance(
            p=self.p, group_reduction="mean", normalizer=None, target_types=list(GROUP_LAYER_TYPES)
        )

    @torch.no_grad()
    def score(self, group: tp.Group) -> torch.Tensor:
        return self._importance(group)


@CRITERIA.register("MagnitudeL1")
class MagnitudeL1(_Magnitude):
    """L1 norm of each channel's group weights."""

    p = 1


@CRITERIA.register("MagnitudeL2")
class MagnitudeL2(_Magnitude):
    """L2 norm of each channel's group weights."""

    p = 2
