"""Reading a DepGraph group layer by layer: which slice of which layer belongs to which root channel.

Shared by the criteria so that each one only states its per-layer rule; the reduction over a group (mean over the
layers that hold a channel) lives here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import torch
import torch_pruning as tp
from torch import nn

__all__ = ["LayerSlice", "channel_sum", "layer_slices", "parameters_of", "reduce_mean", "rows", "sum_over_slices"]

_OUT = {
    tp.prune_conv_out_channels, tp.prune_linear_out_channels, tp.prune_batchnorm_out_channels,
    tp.prune_layernorm_out_channels,
}
NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm)
_IN = {tp.prune_conv_in_channels, tp.prune_linear_in_channels}


@dataclass(frozen=True)
class LayerSlice:
    """The part of one layer that a group's channels own: output rows (``out``) or input columns (``in``)."""

    module: nn.Module
    side: Literal["out", "in"]
    idxs: torch.Tensor  # channel indices in this layer
    root_idxs: torch.Tensor  # the group channel each of them belongs to


def layer_slices(
    group: tp.Group,
    types: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear, *NORM_TYPES),
    sides: Iterable[str] = ("out", "in"),
) -> list[LayerSlice]:
    """Slices of ``group`` in layers of ``types`` on the given sides (norm layers only have an ``out`` side)."""
    found = []
    for item in group.items:
        module, handler = item.dep.target.module, item.dep.handler
        side = "out" if handler in _OUT else "in" if handler in _IN else None
        if side is None or side not in sides or not isinstance(module, types) or None in item.root_idxs:
            continue
        found.append(LayerSlice(module, side, torch.as_tensor(item.idxs), torch.as_tensor(item.root_idxs)))
    return found


def rows(slice_: LayerSlice, tensor: torch.Tensor) -> torch.Tensor:
    """The slice of a weight-shaped ``tensor`` (weight, grad, ...) as one row per channel index: ``[len(idxs), k]``."""
    if slice_.side == "out" or tensor.dim() == 1:
        return tensor[slice_.idxs].reshape(len(slice_.idxs), -1)
    return tensor.transpose(0, 1)[slice_.idxs].reshape(len(slice_.idxs), -1)


def reduce_mean(per_layer: list[tuple[torch.Tensor, torch.Tensor]], size: int) -> torch.Tensor:
    """Average per-layer scores ``(scores, root_idxs)`` into one score per group channel.

    Several indices of one layer may map to the same channel (e.g. a flatten): they are summed within the layer.
    """
    total = torch.zeros(size, dtype=torch.float64)
    layers = torch.zeros(size, dtype=torch.float64)
    for scores, root_idxs in per_layer:
        per_channel = torch.zeros(size, dtype=torch.float64).index_add_(0, root_idxs, scores.double().cpu())
        total += per_channel
        layers[root_idxs.unique()] += 1
    if not (layers > 0).all():
        raise ValueError("some channels of the group have no layer slice this criterion can score")
    return (total / layers).float()


def parameters_of(slice_: LayerSlice) -> list[torch.nn.Parameter]:
    """The parameters a slice owns rows of: the weight, and the bias on the output side."""
    params = [slice_.module.weight]
    if slice_.side == "out" and getattr(slice_.module, "bias", None) is not None:
        params.append(slice_.module.bias)
    return [p for p in params if p is not None]


def sum_over_slices(
    slices: list[LayerSlice], size: int, per_parameter: Callable[[torch.nn.Parameter], torch.Tensor]
) -> torch.Tensor:
    """``sum`` over every parameter entry each of ``size`` channels owns in ``slices`` of ``per_parameter(param)``,
    in float64 on the parameters' device (callers on a hot path keep their slices instead of re-reading the group)."""
    total: torch.Tensor | None = None
    for slice_ in slices:
        for param in parameters_of(slice_):
            values = rows(slice_, per_parameter(param)).sum(1).double()
            if total is None:
                total = torch.zeros(size, dtype=torch.float64, device=values.device)
            total.index_add_(0, slice_.root_idxs.to(values.device), values)
    return torch.zeros(size, dtype=torch.float64) if total is None else total


def channel_sum(group: tp.Group, per_parameter: Callable[[torch.nn.Parameter], torch.Tensor]) -> torch.Tensor:
    """``sum`` over every parameter entry a channel owns in the whole group of ``per_parameter(param)`` (CPU)."""
    return sum_over_slices(layer_slices(group), len(group[0].idxs), per_parameter).cpu()
