"""Per-channel penalties over whole DepGraph groups, for the regularizers Torch-Pruning lacks or gets wrong.

A group's channel ``k`` owns rows and columns in several layers (its filter, its BatchNorm scale and shift, the
next layers' input slices); the penalties here treat all of them as one vector ``theta_k``.
"""

from __future__ import annotations

import torch
import torch_pruning as tp

from pruningbench.methods.importance.slices import LayerSlice, layer_slices, parameters_of

__all__ = ["GroupSlices", "add_scaled_weights_to_grad", "group_slices"]

GroupSlices = tuple[int, list[LayerSlice]]  # a group's channel count and its layer slices


def group_slices(groups: list[tp.Group]) -> list[GroupSlices]:
    """Each group's slices, read once when a regularizer attaches instead of on every training step."""
    return [(len(group[0].idxs), layer_slices(group)) for group in groups]


def add_scaled_weights_to_grad(slices: list[LayerSlice], coefficient: torch.Tensor) -> None:
    """``grad(theta_k) += coefficient[k] * theta_k`` for every channel: the gradient of ``sum_k c_k/2 ||theta_k||^2``
    (and of the group lasso when ``c_k = lambda / ||theta_k||``)."""
    for slice_ in slices:
        per_index = coefficient[slice_.root_idxs.to(coefficient.device)]
        for param in parameters_of(slice_):
            if param.grad is None:
                continue
            idxs = slice_.idxs.to(param.device)
            scale = per_index.to(param.dtype)
            if slice_.side == "out" or param.dim() == 1:
                shape = (-1,) + (1,) * (param.dim() - 1)
                param.grad[idxs] += scale.view(shape) * param.detach()[idxs]
            else:
                shape = (1, -1) + (1,) * (param.dim() - 2)
                param.grad[:, idxs] += scale.view(shape) * param.detach()[:, idxs]
