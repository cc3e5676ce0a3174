"""Taylor (Molchanov et al., "Importance Estimation for Neural Network Pruning", CVPR 2019).

Removing a channel zeroes every parameter ``s`` it owns; to first order the loss changes by ``-sum_s g_s w_s``.
The importance is that change squared, ``(sum_s g_s w_s)^2``, accumulated (summed) over the calibration batches,
with ``g`` the batch gradient. ``S`` is the channel's whole DepGraph group: conv/linear filters and biases,
BatchNorm scales and shifts (which the paper's BN-gate variant uses and Torch-Pruning's ``TaylorImportance`` skips)
and the consuming layers' input slices. The sum runs over the group before squaring, as the paper defines it.
"""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch import nn

from pruningbench.methods.importance import CRITERIA, Batch, Criterion
from pruningbench.methods.importance.calibration import calibration_progress, eval_mode, loss_backward
from pruningbench.methods.importance.slices import channel_sum


@CRITERIA.register("Taylor")
class Taylor(Criterion):
    calibrated = True
    gradients = True

    def prepare(self, model: nn.Module, groups: list[tp.Group], batches: list[Batch]) -> None:
        self._scores: dict[int, torch.Tensor] = {id(g): torch.zeros(len(g[0].idxs), dtype=torch.float64) for g in groups}
        with eval_mode(model):
            for batch in calibration_progress(batches, "Taylor"):
                loss_backward(model, batch)
                with torch.no_grad():
                    for group in groups:
                        self._scores[id(group)] += channel_sum(group, lambda p: p.grad * p).pow(2)
        model.zero_grad(set_to_none=True)

    def score(self, group: tp.Group) -> torch.Tensor:
        return self._scores[id(group)].float()
