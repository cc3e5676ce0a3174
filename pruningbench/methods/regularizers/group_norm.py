"""GroupNorm (Fang et al., DepGraph, CVPR 2023): group-level sparsity over whole DepGraph groups.

Penalty ``lambda * sum_k gamma_k ||theta_k||^2`` where ``theta_k`` is every parameter coupled to channel ``k`` of a
group and ``gamma_k = 2^(alpha (I_max - I_k) / (I_max - I_min))`` with ``I_k = ||theta_k||_2``: weak channels are
pushed harder, and coupled layers shrink together. Computed by Torch-Pruning's ``GroupNormPruner.regularize``; its
constructor ignores ``alpha`` (the method uses a hard-coded 2^4), so ``2^alpha`` is passed on every call. It
regularizes conv, linear and BatchNorm parameters (LayerNorm parameters are left to weight decay).
"""

from __future__ import annotations

import torch_pruning as tp

from pruningbench.methods.importance.magnitude import GROUP_LAYER_TYPES
from pruningbench.methods.regularizers import REGULARIZERS, Regularizer, SparsifyContext
from pruningbench.methods.regularizers.tp_pruners import build_tp_pruner


@REGULARIZERS.register("GroupNorm")
class GroupNorm(Regularizer):
    def attach(self, context: SparsifyContext) -> None:
        self._model = context.model
        group_squares = tp.importance.GroupMagnitudeImportance(
            p=2, group_reduction="sum", normalizer=None, target_types=list(GROUP_LAYER_TYPES)
        )  # the pruner takes its square root: I_k = ||theta_k||_2
        self._pruner = build_tp_pruner(
            tp.pruner.GroupNormPruner, context, importance=group_squares, reg=self.settings.reg, alpha=self.settings.alpha
        )

    def apply(self) -> None:
        self._pruner.regularize(self._model, alpha=2**self.settings.alpha, bias=True)
