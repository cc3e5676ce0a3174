"""HRank (Lin et al., "HRank: Filter Pruning using High-Rank Feature Map", CVPR 2020).

A filter whose output feature maps have low rank carries little information. Its score is the rank of its
``H x W`` output map, averaged over the calibration images, computed batch by batch with one batched
``torch.linalg.matrix_rank`` call per layer (no feature map is kept). Maps are taken at the conv's output, before
BatchNorm and activation (the official code hooks the activations; the conv output is the map the filter itself
generates and is defined for every architecture). Averaged over the group's conv layers that own output channels.
A group with no conv output (a ViT's linear layers produce one vector per token, not a map) is not applicable and
is refused with a one-line error; the reference's ViT board has no HRank row either.
"""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch import nn

from pruningbench.errors import UserError
from pruningbench.methods.importance import CRITERIA, Batch, Criterion
from pruningbench.methods.importance.calibration import calibration_progress, eval_mode, hooked
from pruningbench.methods.importance.slices import layer_slices, reduce_mean


@CRITERIA.register("HRank")
class HRank(Criterion):
    calibrated = True

    def prepare(self, model: nn.Module, groups: list[tp.Group], batches: list[Batch]) -> None:
        convs = {s.module for g in groups for s in layer_slices(g, types=(nn.Conv2d,), sides=("out",))}
        self._rank_sum: dict[nn.Module, torch.Tensor] = {}
        self._images = 0

        def record(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            ranks = torch.linalg.matrix_rank(output.detach().float()).sum(0).double().cpu()
            self._rank_sum[module] = self._rank_sum.get(module, 0) + ranks

        with eval_mode(model), hooked(list(convs), forward=record), torch.no_grad():
            for images, _ in calibration_progress(batches, "HRank"):
                model(images)
                self._images += len(images)

    def score(self, group: tp.Group) -> torch.Tensor:
        slices = layer_slices(group, types=(nn.Conv2d,), sides=("out",))
        if not slices:
            raise UserError(f"HRank scores conv feature maps; {group[0].dep.target.module} outputs none")
        per_layer = [(self._rank_sum[s.module][s.idxs] / self._images, s.root_idxs) for s in slices]
        return reduce_mean(per_layer, len(group[0].idxs))
