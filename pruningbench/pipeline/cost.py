"""What the pruning search aims with: the cost of the model after removing any set of group units.

:class:`MacsModel` is exact for MACs: a conv/linear layer's MACs scale with the kept share of its outputs and inputs,
and which root channels shrink which layer dimension comes from the DepGraph groups, so the search never touches the
model. A latency target aims with :class:`~pruningbench.latency.table.LatencyModel` (same interface, same maps).
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch_pruning as tp
from torch import nn

from pruningbench.metrics import count_macs
from pruningbench.pipeline.group import ChannelGroup

__all__ = ["CostModel", "MacsModel"]


class CostModel(Protocol):
    """What the search aims with: the cost of the whole model and after removing any set of units (MACs, or the
    latency a :class:`~pruningbench.latency.table.LatencyModel` predicts)."""

    total: float
    offsets: list[int]

    def cost(self, removed: torch.Tensor) -> float: ...


class MacsModel:
    """Predicts the MACs left after removing any set of group units, without touching the model.

    A conv/linear layer's MACs scale with (kept outputs / outputs) x (kept inputs / inputs), or with kept outputs
    alone for depthwise convs; which root channels shrink which layer dimension comes from the DepGraph groups.
    A group's ``scaled_macs`` (attention products) shrink with the share of its units kept; all other MACs outside
    conv/linear layers are constant. Flags index units, all groups concatenated (``offsets``).
    """

    def __init__(
        self, model: nn.Module, graph: tp.DependencyGraph, groups: list[ChannelGroup], example: torch.Tensor
    ) -> None:
        layers, base, self.input_shapes, spatial = self._layer_macs(model, example)
        self.layers = layers
        self.out_spatial = torch.tensor(spatial, dtype=torch.float64)  # output positions per channel (tokens, H x W)
        self.total = float(count_macs(model, tuple(example.shape[1:])))
        self.constant = self.total - float(base.sum())
        self.base = base
        self.offsets = [0]
        for group in groups:
            self.offsets.append(self.offsets[-1] + group.unit_count)
        index = {module: i for i, module in enumerate(layers)}
        self.out_map = torch.zeros(len(layers), self.offsets[-1])
        self.in_map = torch.zeros(len(layers), self.offsets[-1])
        self.scaled_per_unit = torch.zeros(self.offsets[-1], dtype=torch.float64)
        for g, group in enumerate(groups):
            unit_of = torch.empty(group.size, dtype=torch.long)
            unit_of[group.units] = torch.arange(group.unit_count).unsqueeze(1).expand_as(group.units)
            self.scaled_per_unit[self.offsets[g] : self.offsets[g + 1]] = group.scaled_macs / group.unit_count
            for item in group.group.items:
                module, handler = item.dep.target.module, item.dep.handler
                if module not in index:
                    continue
                target = self.out_map if graph.is_out_channel_pruning_fn(handler) else self.in_map
                for root_idx in item.root_idxs:
                    if root_idx is not None:
                        target[index[module], self.offsets[g] + int(unit_of[root_idx])] += 1
        self.out_total = torch.tensor([_out_dim(m) for m in layers], dtype=torch.float)
        self.in_total = torch.tensor([_in_dim(m) for m in layers], dtype=torch.float)
        self.depthwise = torch.tensor([_is_depthwise(m) for m in layers])

    @staticmethod
    def _layer_macs(
        model: nn.Module, example: torch.Tensor
    ) -> tuple[list[nn.Module], torch.Tensor, list[tuple[int, ...]], list[int]]:
        layers, macs, input_shapes, spatial = [], [], [], []

        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            per_output = module.weight[0].numel() if isinstance(module, nn.Conv2d) else module.in_features
            layers.append(module)
            macs.append(output[:1].numel() * per_output)
            input_shapes.append(tuple(inputs[0].shape[1:]))
            spatial.append(output[:1].numel() // _out_dim(module))

        hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        was_training = model.training
        try:
            with torch.no_grad():
                model.eval()(example[:1])  # eval: never moves BatchNorm statistics
        finally:
            model.train(was_training)
            for hook in hooks:
                hook.remove()
        return layers, torch.tensor(macs, dtype=torch.float64), input_shapes, spatial

    def cost(self, removed: torch.Tensor) -> float:
        """MACs after removing the units flagged in ``removed`` (bool, all groups' units concatenated)."""
        flags = removed.float()
        out_kept = 1.0 - (self.out_map @ flags) / self.out_total
        in_kept = 1.0 - (self.in_map @ flags) / self.in_total
        scale = torch.where(self.depthwise, out_kept, out_kept * in_kept).double()
        scaled_removed = float(self.scaled_per_unit @ removed.double())
        return self.constant - scaled_removed + float((self.base * scale).sum())


def _out_dim(module: nn.Module) -> int:
    return module.out_channels if isinstance(module, nn.Conv2d) else module.out_features


def _in_dim(module: nn.Module) -> int:
    return module.in_channels if isinstance(module, nn.Conv2d) else module.in_features


def _is_depthwise(module: nn.Module) -> bool:
    return isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels
