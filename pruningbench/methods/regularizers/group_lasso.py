"""GroupLASSO (Yuan & Lin 2006; Friedman, Hastie & Tibshirani 2010): ``lambda * sum_k ||theta_k||_2``.

``theta_k`` is every parameter coupled to channel ``k`` of a DepGraph group (its filter and bias, BatchNorm scale
and shift, the next layers' input slices), so a whole prunable structure is driven to zero together. Torch-Pruning
has no such regularizer for conv/linear groups. The gradient ``lambda * theta_k / ||theta_k||`` is added per step.
The papers' ``sqrt(p_k)`` group-size weight is left out (channels of a group all have the same size), so ``lambda``
keeps the scale of the other regularizers' coefficients.
"""

from __future__ import annotations

from pruningbench.methods.regularizers import REGULARIZERS, Regularizer, SparsifyContext
from pruningbench.methods.importance.slices import sum_over_slices
from pruningbench.methods.regularizers.channels import add_scaled_weights_to_grad, group_slices

_EPS = 1e-12  # a channel already at zero gets no (undefined) push


@REGULARIZERS.register("GroupLASSO")
class GroupLASSO(Regularizer):
    def attach(self, context: SparsifyContext) -> None:
        self._groups = group_slices(context.groups)

    def apply(self) -> None:
        for size, slices in self._groups:
            norms = sum_over_slices(slices, size, lambda p: p.detach().pow(2)).sqrt()
            add_scaled_weights_to_grad(slices, self.settings.reg / norms.clamp_min(_EPS))
