"""Stage 2, grouping: DepGraph (Torch-Pruning) finds the sets of coupled channels that must be pruned together."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch_pruning as tp
from torch import nn

from pruningbench.errors import UserError
from pruningbench.models.structure import (
    AttentionUnit,
    CoupledUnits,
    coupled_units,
    frozen_layers,
    unwrapped_parameters,
)

__all__ = ["ChannelGroup", "build_groups", "output_layers"]


@dataclass
class ChannelGroup:
    """One DepGraph group: removing root channel ``i`` removes every coupled slice listed in ``group``.

    Channels are removed by ``units`` (rows of root indices that go together, see
    :mod:`pruningbench.models.structure`); for ordinary layers each unit is one channel.
    """

    name: str  # name of the root layer
    root: nn.Module
    prune_fn: Callable
    group: tp.Group  # holds all ``size`` channels, for scoring
    size: int  # root channels
    units: torch.Tensor  # [n_units, k] root indices removed together
    scaled_macs: float  # MACs outside conv/linear layers that shrink with the share of units kept
    on_removed: Callable[[int], None] | None = None  # told how many units were removed (e.g. attention heads)

    @property
    def unit_count(self) -> int:
        return len(self.units)


def output_layers(model: nn.Module, example: torch.Tensor) -> list[nn.Module]:
    """Layers never pruned: conv/linear layers whose output is (part of) the model's output, e.g. the classifier,
    and a model family's frozen layers (e.g. a detection head's output convolutions).

    Every layer's output is held until the comparison, so tensor identity is exact (a freed tensor's ``id`` can be
    reused by a later one, which once made a detection head's inner convolution look like an output layer).
    """
    produced: list[tuple[torch.Tensor, nn.Module]] = []
    hooks = [
        module.register_forward_hook(lambda mod, _inp, out: produced.append((out, mod)))
        for module in model.modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    ]
    was_training = model.training
    try:
        with torch.no_grad():
            output = model.eval()(example)  # eval: batch statistics of a single example are not touched or needed
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    outputs = output if isinstance(output, (tuple, list)) else [output]
    direct = [module for tensor, module in produced if any(tensor is out for out in outputs)]
    return direct + [layer for layer in frozen_layers(model) if layer not in direct]


def build_groups(
    model: nn.Module, example: torch.Tensor, attention: AttentionUnit = "head_dims"
) -> tuple[tp.DependencyGraph, list[ChannelGroup]]:
    """Trace ``model`` on ``example`` and return its dependency graph and prunable groups (outputs excluded), with
    multi-head attention split into ``attention`` units."""
    was_training = model.training
    model.eval()
    graph = tp.DependencyGraph().build_dependency(
        model, example_inputs=example, unwrapped_parameters=unwrapped_parameters(model)
    )
    names = {module: name for name, module in model.named_modules()}
    groups = []
    for group in graph.get_all_groups(ignored_layers=output_layers(model, example)):
        root_dep = group[0].dep
        root = root_dep.target.module
        size = len(group[0].idxs)
        layout = grouped_convolution_units(group, names) or coupled_units(model, root, size, attention)
        groups.append(ChannelGroup(
            names[root], root, root_dep.handler, group, size, layout.units, layout.scaled_macs, layout.on_removed
        ))
    model.train(was_training)
    return graph, groups


def grouped_convolution_units(group: tp.Group, names: dict[nn.Module, str]) -> CoupledUnits | None:
    """Units for a group that reaches a grouped convolution (RegNet, ResNeXt), or None if it reaches none.

    Every group of such a convolution must keep the same number of channels, and Torch-Pruning slices its inputs as
    if all groups lost the same positions: so a unit is channel ``j`` of every one of its ``g`` groups (as attention
    units are dimension ``j`` of every head), the same convolution groups keep, and widths stay multiples of ``g``.
    Depthwise convolutions need nothing (they are coupled channel by channel)."""
    size = len(group[0].idxs)
    counts: set[int] = set()
    for item in group.items:
        module = item.dep.target.module
        if isinstance(module, nn.Conv2d) and 1 < module.groups < module.in_channels:
            if [int(i) for i in item.root_idxs] != list(range(size)) or size % module.groups:
                raise UserError(
                    f"layer {names[module]!r} is a grouped convolution ({module.groups} groups) whose channels do not "
                    "map one to one to the pruned group's; it cannot be pruned"
                )
            counts.add(module.groups)
    if not counts:
        return None
    per_group = size // math.lcm(*counts)
    return CoupledUnits(torch.arange(size).view(-1, per_group).T.contiguous())
