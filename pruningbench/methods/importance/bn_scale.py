"""BNScale (Liu et al., "Network Slimming", ICCV 2017): a channel's importance is ``|gamma|`` of its BatchNorm.

Averaged over the BatchNorm layers of the group (several when channels are coupled through residual additions);
computed by Torch-Pruning's ``BNScaleImportance``. A group with no BatchNorm cannot be scored and is an error.
"""

from __future__ import annotations

import torch
import torch_pruning as tp

from pruningbench.errors import UserError
from pruningbench.methods.importance import CRITERIA, Criterion


@CRITERIA.register("BNScale")
class BNScale(Criterion):
    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self._importance = tp.importance.BNScaleImportance(group_reduction="mean", normalizer=None)

    @torch.no_grad()
    def score(self, group: tp.Group) -> torch.Tensor:
        scores = self._importance(group)
        if scores is None or len(scores) == 0:
            raise UserError(f"BNScale needs BatchNorm after every pruned layer; {group[0].dep.target.module} has none")
        return scores
