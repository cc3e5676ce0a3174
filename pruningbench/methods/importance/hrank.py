"""HRank (Lin et al., "HRank: Filter Pruning using High-Rank Feature Map", CVPR 2020).

A filter whose output feature maps have low rank carries little information. Its score is the rank of its
``H x W`` output map, averaged over the calibration images, computed batch by batch for a layer's maps at once (no
feature map is kept). The rank is ``torch.linalg.matrix_rank``'s (singular values above ``max(H, W) * eps * s_max``,
float32 eps), found without an SVD per map: see :func:`map_ranks`. Maps are taken at the conv's output, before
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
            ranks = map_ranks(output.detach().float()).sum(0).double().cpu()
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


def map_ranks(maps: torch.Tensor) -> torch.Tensor:
    """The rank of each ``[..., H, W]`` float32 map, as ``torch.linalg.matrix_rank`` defines it, several times faster.

    With ``G = M^T M`` in float64 (the smaller side), a map has full rank when its smallest singular value exceeds the
    tolerance ``t = max(H, W) * eps * s_max``, i.e. when ``G - t^2 I`` is positive definite: one batched Cholesky
    decides it, with ``t`` taken from ``||M||_F >= s_max`` so that success proves full rank. The few maps it cannot
    prove full rank get the exact count from the eigenvalues of ``G`` (``s_i^2``), accurate in float64 far below
    ``t^2``. Most feature maps are full rank, so most never need an eigen-decomposition.
    """
    maps = maps.double()
    if maps.shape[-2] < maps.shape[-1]:
        maps = maps.transpose(-1, -2)
    relative = max(maps.shape[-2:]) * torch.finfo(torch.float32).eps
    shifted = maps.transpose(-1, -2) @ maps  # the Gram matrix, shifted in place below
    full = shifted.shape[-1]
    diagonal = shifted.diagonal(dim1=-2, dim2=-1)
    diagonal.sub_(diagonal.sum(-1, keepdim=True) * relative**2)
    _, info = torch.linalg.cholesky_ex(shifted)
    ranks = torch.full(shifted.shape[:-2], full, dtype=torch.long, device=maps.device)
    unproven = info != 0
    if unproven.any():
        few = maps[unproven]
        singular = torch.linalg.eigvalsh(few.transpose(-1, -2) @ few).clamp_min(0).sqrt()  # ascending
        ranks[unproven] = (singular > singular[..., -1:] * relative).sum(-1)
    return ranks
