"""BNScale (Liu et al., "Network Slimming", ICCV 2017): L1 penalty ``lambda * sum |gamma|`` on BatchNorm scales.

Torch-Pruning's ``BNScalePruner.regularize`` adds its subgradient ``lambda * sign(gamma)`` to every affine
BatchNorm's scale gradient, which is exactly the paper's penalty.
"""

from __future__ import annotations

import torch_pruning as tp
from torch import nn

from pruningbench.errors import UserError

from pruningbench.methods.regularizers import REGULARIZERS, Regularizer, SparsifyContext
from pruningbench.methods.regularizers.tp_pruners import build_tp_pruner


@REGULARIZERS.register("BNScale")
class BNScale(Regularizer):
    def attach(self, context: SparsifyContext) -> None:
        if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in context.model.modules()):
            raise UserError(f"regularizer BNScale needs BatchNorm layers; {type(context.model).__name__} has none")
        self._model = context.model
        self._pruner = build_tp_pruner(
            tp.pruner.BNScalePruner, context, importance=tp.importance.BNScaleImportance(), reg=self.settings.reg
        )

    def apply(self) -> None:
        self._pruner.regularize(self._model)
