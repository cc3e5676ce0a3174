"""ThiNet (Luo et al., "ThiNet: A Filter Level Pruning Method", ICCV 2017).

Channels are judged by the next layer: greedily remove, one at a time, the channel whose removal (together with
those already removed) changes the sampled next-layer outputs least, ``argmin_c ||sum_{j in T+c} xhat_j||^2``
(see :mod:`reconstruction`). A channel's score is the step at which it would be removed (1 = first), so the
greedy order is the importance order; the last channel scores ``n``. Each greedy step evaluates all candidates at
once from the Gram matrix of the contributions (``||s + xhat_c||^2 = ||s||^2 + 2 s.xhat_c + ||xhat_c||^2``). Groups consumed by several layers (residual
couplings) use the samples of all of them. The paper's least-squares rescaling of the kept weights is not applied.
"""

from __future__ import annotations

import torch

from pruningbench.methods.importance import CRITERIA
from pruningbench.methods.importance.reconstruction import NextLayerCriterion


@CRITERIA.register("ThiNet")
class ThiNet(NextLayerCriterion):
    def rank_groups(self, grams: list[torch.Tensor], samples: list[int]) -> list[torch.Tensor]:
        return [greedy_removal_steps(gram) for gram in grams]


def greedy_removal_steps(gram: torch.Tensor) -> torch.Tensor:
    """Step (1-based) at which ThiNet's greedy selection removes each of the ``n`` contribution columns whose Gram
    matrix is ``gram`` ``[n, n]``.

    Removing ``c`` after the set ``T`` costs ``||s_T + xhat_c||^2 - ||s_T||^2 = 2 sum_{j in T} G_jc + G_cc``: one
    pass over the samples builds ``G``, and each step is then ``O(n)``."""
    n = len(gram)
    cross = torch.zeros(n, dtype=gram.dtype, device=gram.device)  # sum_{j in T} G_jc
    steps = torch.zeros(n)
    removed = torch.zeros(n, dtype=torch.bool, device=gram.device)
    error = gram.diagonal().clone()
    for step in range(1, n + 1):
        channel = int(torch.where(removed, torch.inf, error).argmin())
        steps[channel] = step
        removed[channel] = True
        cross += gram[channel]
        error = 2 * cross + gram.diagonal()
    return steps
