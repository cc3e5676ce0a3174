"""CP (He et al., "Channel Pruning for Accelerating Very Deep Neural Networks", ICCV 2017).

CP selects channels by LASSO regression on the next layer's sampled outputs:
``min_beta ||y - sum_c beta_c xhat_c||^2 + lambda ||beta||_1`` (see :mod:`reconstruction`), raising ``lambda``
until enough ``beta_c`` are zero. As a ranking, a channel's score is the ``lambda`` at which it enters the LASSO
path (LARS-LASSO on the Gram matrix, run to its end: :mod:`lars`): the larger, the longer it survives the penalty;
channels that never enter score 0. The paper's least-squares reconstruction of the kept weights is not applied.
"""

from __future__ import annotations

import torch

from pruningbench.methods.importance import CRITERIA
from pruningbench.methods.importance.lars import lasso_entry_alphas
from pruningbench.methods.importance.reconstruction import NextLayerCriterion


@CRITERIA.register("CP")
class CP(NextLayerCriterion):
    def rank_groups(self, grams: list[torch.Tensor], samples: list[int]) -> list[torch.Tensor]:
        return [lasso_entry_penalties(gram, count) for gram, count in zip(grams, samples, strict=True)]


def lasso_entry_penalties(gram: torch.Tensor, samples: int) -> torch.Tensor:
    """The LASSO penalty at which each of ``n`` contribution columns, with Gram matrix ``gram`` ``[n, n]`` over
    ``samples`` rows, first gets a non-zero coefficient when regressing their sum (so ``X^T y = G 1``).

    Contributions are rescaled to unit mean square first: LARS stops at penalties near float32 epsilon, which raw
    activations of a deep layer can fall below. The rescaling multiplies every penalty by the same factor.
    """
    mean_square = gram.diagonal().sum() / (samples * len(gram))
    gram = (gram / mean_square.clamp_min(1e-60)).cpu().numpy()
    return torch.from_numpy(lasso_entry_alphas(gram, gram.sum(1), samples)).float()
