"""ThiNet (Luo et al., "ThiNet: A Filter Level Pruning Method", ICCV 2017).

Channels are judged by the next layer: greedily remove, one at a time, the channel whose removal (together with
those already removed) changes the sampled next-layer outputs least, ``argmin_c ||sum_{j in T+c} xhat_j||^2``
(see :mod:`reconstruction`). A channel's score is the step at which it would be removed (1 = first), so the
greedy order is the importance order; the last channel scores ``n``. Each greedy step evaluates all candidates at
once (``||s + xhat_c||^2 = ||s||^2 + 2 s.xhat_c + ||xhat_c||^2``). Groups consumed by several layers (residual
couplings) use the samples of all of them. The paper's least-squares rescaling of the kept weights is not applied.
"""

from __future__ import annotations

import torch

from pruningbench.methods.importance import CRITERIA
from pruningbench.methods.importance.reconstruction import NextLayerCriterion


@CRITERIA.register("ThiNet")
class ThiNet(NextLayerCriterion):
    def rank(self, contributions: torch.Tensor) -> torch.Tensor:
        return greedy_removal_steps(contributions)


def greedy_removal_steps(contributions: torch.Tensor) -> torch.Tensor:
    """Step (1-based) at which ThiNet's greedy selection removes each column of ``contributions`` ``[m, n]``."""
    n = contributions.shape[1]
    gram_diag = contributions.pow(2).sum(0)
    removed_sum = torch.zeros(contributions.shape[0], dtype=contributions.dtype)
    steps = torch.zeros(n)
    available = torch.ones(n, dtype=torch.bool)
    for step in range(1, n + 1):
        error = 2 * removed_sum @ contributions + gram_diag
        error[~available] = float("inf")
        channel = int(error.argmin())
        steps[channel] = step
        available[channel] = False
        removed_sum += contributions[:, channel]
    return steps
