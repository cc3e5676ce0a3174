"""CP (He et al., "Channel Pruning for Accelerating Very Deep Neural Networks", ICCV 2017).

CP selects channels by LASSO regression on the next layer's sampled outputs:
``min_beta ||y - sum_c beta_c xhat_c||^2 + lambda ||beta||_1`` (see :mod:`reconstruction`), raising ``lambda``
until enough ``beta_c`` are zero. As a ranking, a channel's score is the ``lambda`` at which it enters the LASSO
path (scikit-learn's LARS-LASSO on the Gram matrix): the larger, the longer it survives the penalty; channels that
never enter score 0. The paper's least-squares reconstruction of the kept weights is not applied.
"""

from __future__ import annotations

import torch
from sklearn.linear_model import lars_path_gram

from pruningbench.methods.importance import CRITERIA
from pruningbench.methods.importance.reconstruction import NextLayerCriterion


# The path runs to its end: scikit-learn's default cap of 500 steps left every channel of a wider group (ResNet-50:
# up to 2048) that had not entered by then at score 0, tied. A channel enters once, and may leave and re-enter.
PATH_STEPS_PER_CHANNEL = 4


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
    alphas, _, coefs = lars_path_gram(
        Xy=gram.sum(1), Gram=gram, n_samples=samples, method="lasso", max_iter=PATH_STEPS_PER_CHANNEL * len(gram)
    )
    active = torch.from_numpy(coefs != 0)  # [n, len(alphas)]: coefficients at each knot, all zero at the first
    entered = active.any(1)
    first_nonzero = active.float().argmax(1)  # the knot after the one at which the channel entered
    return torch.where(entered, torch.from_numpy(alphas)[first_nonzero - 1], torch.zeros(())).float()
