"""LAMP (Lee et al., "Layer-adaptive Sparsity for the Magnitude-based Pruning", ICLR 2021), at channel level.

Channels of a group are sorted by their squared group magnitude ``s`` (as MagnitudeL2); channel ``u``'s score is
``s_u / sum_{v: s_v >= s_u} s_v``, its share of the mass of all channels at least as large. The score is itself
the paper's cross-layer normalization, so the prune stage does not rescale it (``normalized = False``): the
largest channel of every group scores 1. Computed by Torch-Pruning's ``LAMPImportance``.
"""

from __future__ import annotations

import torch
import torch_pruning as tp

from pruningbench.methods.importance import CRITERIA, Criterion
from pruningbench.methods.importance.magnitude import GROUP_LAYER_TYPES


@CRITERIA.register("LAMP")
class LAMP(Criterion):
    normalized = False

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self._importance = tp.importance.LAMPImportance(p=2, group_reduction="mean", normalizer="lamp")
        self._importance.target_types = list(GROUP_LAYER_TYPES)

    @torch.no_grad()
    def score(self, group: tp.Group) -> torch.Tensor:
        return self._importance(group)
