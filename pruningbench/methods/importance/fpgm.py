"""FPGM (He et al., "Filter Pruning via Geometric Median", CVPR 2019).

A filter close to the geometric median of its layer's filters is redundant: the others can represent it. As in the
paper, the median is approximated by the filter minimizing the sum of Euclidean distances to the others, so a
filter's score is ``sum_j ||F_i - F_j||_2`` over the layer's filters (small = near the median = pruned first),
averaged over the conv/linear layers whose output channels the group owns (a linear layer's "filters" are its
weight rows, which is how it applies to ViT MLPs and attention projections). Distances are between the raw filters;
Torch-Pruning's ``FPGMImportance`` takes ``|F|^p`` first, which loses the filters' signs, so it is not used.
"""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch import nn

from pruningbench.methods.importance import CRITERIA, Criterion
from pruningbench.methods.importance.slices import layer_slices, reduce_mean, rows


@CRITERIA.register("FPGM")
class FPGM(Criterion):
    @torch.no_grad()
    def score(self, group: tp.Group) -> torch.Tensor:
        per_layer = []
        for slice_ in layer_slices(group, types=(nn.Conv2d, nn.Linear), sides=("out",)):
            filters = rows(slice_, slice_.module.weight).double()
            per_layer.append((torch.cdist(filters, filters).sum(1), slice_.root_idxs))
        return reduce_mean(per_layer, len(group[0].idxs))
