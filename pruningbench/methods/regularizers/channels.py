"""Per-channel penalties over whole DepGraph groups, for the regularizers Torch-Pruning lacks or gets wrong.

A group's channel ``k`` owns rows and columns in several layers (its filter, its BatchNorm scale and shift, the
next layers' input slices); the penalties here treat all of them as one vector ``theta_k``.
"""

from __future__ import annotations

import torch
import torch_pruning as tp

from pruningbench.methods.importance.slices import layer_slices, parameters_of, rows

__all__ = ["add_scaled_weights_to_grad", "channel_norms"]


def channel_norms(group: tp.Group) -> torch.Tensor:
    """``||theta_k||_2`` for every root channel ``k`` of ``group`` (on the weights' device)."""
    slices = layer_slices(group)
    device = slices[0].module.weight.device
    squares = torch.zeros(len(group[0].idxs), device=device)
    for slice_ in slices:
        for param in parameters_of(slice_):
            squares.index_add_(0, slice_.root_idxs.to(device), rows(slice_, param.detach()).pow(2).sum(1))
    return squares.sqrt()


def add_scaled_weights_to_grad(group: tp.Group, coefficient: torch.Tensor) -> None:
    """``grad(theta_k) += coefficient[k] * theta_k`` for every channel: the gradient of ``sum_k c_k/2 ||theta_k||^2``
    (and of the group lasso when ``c_k = lambda / ||theta_k||``)."""
    for slice_ in layer_slices(group):
        per_index = coefficient[slice_.root_idxs.to(coefficient.device)]
        for param in parameters_of(slice_):
            if param.grad is None:
                continue
            idxs = slice_.idxs.to(param.device)
            if slice_.side == "out" or param.dim() == 1:
                shape = (-1,) + (1,) * (param.dim() - 1)
                param.grad[idxs] += per_index.view(shape) * param.detach()[idxs]
            else:
                shape = (1, -1) + (1,) * (param.dim() - 2)
                param.grad[:, idxs] += per_index.view(shape) * param.detach()[:, idxs]

