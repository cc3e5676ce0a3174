"""OBD-Hessian (LeCun et al., "Optimal Brain Damage", 1990; grouped as in DepGraph, CVPR 2023).

OBD estimates the loss increase of zeroing weight ``s`` as ``1/2 H_ss w_s^2`` with a diagonal Hessian. The
Hessian diagonal is approximated by the empirical Fisher, the mean over calibration samples of the squared
*per-sample* gradient (Torch-Pruning's ``HessianImportance`` keeps only the last sample's gradients, so it is not
used). A channel's score is the sum of ``1/2 F_s w_s^2`` over the entries it owns in a layer, averaged over the
group's layers.
"""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch import nn

from pruningbench.methods.importance import CRITERIA, Batch, Criterion
from pruningbench.methods.importance.per_sample import per_sample_squared_grads
from pruningbench.methods.importance.slices import layer_slices, parameters_of, reduce_mean, rows


@CRITERIA.register("OBD-Hessian")
class OBDHessian(Criterion):
    calibrated = True
    gradients = True

    def prepare(self, model: nn.Module, groups: list[tp.Group], batches: list[Batch]) -> None:
        samples = sum(len(labels) for _, labels in batches)
        squared = per_sample_squared_grads(model, batches)
        self._fisher = {id(p): squared[name] / samples for name, p in model.named_parameters()}

    @torch.no_grad()
    def score(self, group: tp.Group) -> torch.Tensor:
        per_layer = []
        for slice_ in layer_slices(group):
            saliency = sum(rows(slice_, 0.5 * self._fisher[id(p)] * p.pow(2)).sum(1) for p in parameters_of(slice_))
            per_layer.append((saliency, slice_.root_idxs))
        return reduce_mean(per_layer, len(group[0].idxs))
