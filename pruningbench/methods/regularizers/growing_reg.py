"""GrowingReg (Wang et al., "Neural Pruning via Growing Regularization", ICLR 2021, GReg-1).

The channels the run is going to prune (its criterion at its target speed-up, on the base model) are marked before
training; only they get an L2 penalty ``lambda_k/2 ||theta_k||^2`` over all their coupled parameters, and
``lambda_k`` grows by ``delta_reg`` after every epoch up to ``reg_ceiling``, so they are driven to zero gradually
while the rest of the network adapts. Unmarked channels get no penalty. Torch-Pruning's ``GrowingRegPruner`` is
not used: it penalizes every channel in proportion to its rank (not the paper's marked set), and its BatchNorm
update writes into a copy and has no effect.
"""

from __future__ import annotations

from typing import Any

import torch

from pruningbench.methods.regularizers import REGULARIZERS, Regularizer, SparsifyContext
from pruningbench.methods.regularizers.channels import add_scaled_weights_to_grad, group_slices


@REGULARIZERS.register("GrowingReg")
class GrowingReg(Regularizer):
    marks_channels = True

    def attach(self, context: SparsifyContext) -> None:
        if context.marked is None:
            raise ValueError("GrowingReg needs the channels the run will prune (SparsifyContext.marked)")
        device = context.example.device
        self._slices = [slices for _, slices in group_slices(context.groups)]
        self._marked = [mask.to(device) for mask in context.marked]
        self.coefficients = [mask.float() * self.settings.reg for mask in self._marked]

    def apply(self) -> None:
        for slices, coefficient in zip(self._slices, self.coefficients):
            if coefficient.any():
                add_scaled_weights_to_grad(slices, coefficient)

    def epoch_end(self) -> None:
        ceiling = self.settings.reg_ceiling
        self.coefficients = [
            torch.where(mask, (c + self.settings.delta_reg).clamp_max(ceiling), c)
            for mask, c in zip(self._marked, self.coefficients)
        ]

    def state_dict(self) -> dict[str, Any]:
        return {"coefficients": [c.cpu() for c in self.coefficients]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self._marked[0].device
        self.coefficients = [c.to(device) for c in state["coefficients"]]
