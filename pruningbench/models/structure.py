"""What the prune stage must know about a model family's special modules beyond DepGraph's coupling.

DepGraph says which slices of which layers go with each root channel. Some architectures need more:
- channels that must go together *within* a group (multi-head attention: dimension ``j`` of every head of q, k and
  v, so all heads keep one head size; or all dimensions of one head, so whole heads go);
- MACs outside convolutions and linear layers that shrink with those channels (the attention products);
- attributes to update after pruning (a timm ``Attention``'s ``num_heads`` and ``head_dim``);
- layers whose channels are a fixed output layout although they do not produce the model's output directly (a
  detection head's box and class convolutions);
- parameters outside any layer and the dimension that carries channels (a ViT's class token and position
  embedding), which DepGraph otherwise guesses with a warning.
A model family describes these in a :class:`StructureRule` added to ``STRUCTURE_RULES`` from its model file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

import torch
from torch import nn

__all__ = [
    "STRUCTURE_RULES", "AttentionUnit", "CoupledUnits", "StructureRule", "after_pruning", "coupled_units", "frozen_layers",
    "kept_whole", "unwrapped_parameters",
]


AttentionUnit = Literal["head_dims", "heads"]  # what one prunable unit of multi-head attention is


@dataclass(frozen=True)
class CoupledUnits:
    """How a group's root channels are removed: by rows of ``units`` (each row's root indices together)."""

    units: torch.Tensor  # [n_units, k] root-channel indices
    scaled_macs: float = 0.0  # MACs outside conv/linear layers proportional to the share of units kept
    on_removed: Callable[[int], None] | None = None  # told how many units went, before ``after_pruning`` runs


class StructureRule(Protocol):
    def units(self, model: nn.Module, root: nn.Module, root_size: int, attention: AttentionUnit) -> CoupledUnits | None:
        """The units of the group rooted at ``root`` (``attention``: what a unit of multi-head attention is), or None
        if this rule does not concern it."""

    def frozen_layers(self, model: nn.Module) -> list[nn.Module]:
        """Layers whose output channels must never be pruned."""

    def unwrapped_parameters(self, model: nn.Module) -> list[tuple[nn.Parameter, int]]:
        """Parameters owned by no layer, each with its channel dimension."""

    def after_pruning(self, model: nn.Module) -> None:
        """Bring module attributes in line with pruned weight shapes (also after loading a pruned model)."""


STRUCTURE_RULES: list[StructureRule] = []


def coupled_units(
    model: nn.Module, root: nn.Module, root_size: int, attention: AttentionUnit = "head_dims"
) -> CoupledUnits:
    """The units of a group: from the first rule that concerns it, else one unit per root channel."""
    for rule in STRUCTURE_RULES:
        found = rule.units(model, root, root_size, attention)
        if found is not None:
            return found
    return CoupledUnits(torch.arange(root_size).unsqueeze(1))


def frozen_layers(model: nn.Module) -> list[nn.Module]:
    """Every rule's frozen layers of ``model``."""
    return [layer for rule in STRUCTURE_RULES for layer in rule.frozen_layers(model)]


def unwrapped_parameters(model: nn.Module) -> list[tuple[nn.Parameter, int]]:
    """Every rule's unwrapped parameters of ``model`` (Torch-Pruning's ``unwrapped_parameters`` argument)."""
    return [entry for rule in STRUCTURE_RULES for entry in rule.unwrapped_parameters(model)]


def after_pruning(model: nn.Module) -> None:
    """Apply every rule's post-pruning update to ``model``."""
    for rule in STRUCTURE_RULES:
        rule.after_pruning(model)


_KEPT_WHOLE = "_pruningbench_kept_whole"


class _KeptWhole:
    """Layers a user asked to keep (``pruningbench.prune(..., ignored_layers=...)``): frozen like output layers. The
    mark lives on the layer itself, so it survives the deep copies the latency search makes."""

    def units(self, model: nn.Module, root: nn.Module, root_size: int, attention: AttentionUnit) -> None:
        return None

    def frozen_layers(self, model: nn.Module) -> list[nn.Module]:
        return [module for module in model.modules() if getattr(module, _KEPT_WHOLE, False)]

    def unwrapped_parameters(self, model: nn.Module) -> list[tuple[nn.Parameter, int]]:
        return []

    def after_pruning(self, model: nn.Module) -> None:
        return None


STRUCTURE_RULES.append(_KeptWhole())


@contextmanager
def kept_whole(layers: Iterable[nn.Module]) -> Iterator[None]:
    """Keep every output channel of ``layers`` for the duration (their inputs may still shrink)."""
    marked = list(layers)
    for layer in marked:
        setattr(layer, _KEPT_WHOLE, True)
    try:
        yield
    finally:
        for layer in marked:
            layer.__dict__.pop(_KEPT_WHOLE, None)
