"""Sparsity regularizers of the optional sparsifying stage, registered by name like the criteria.

Adding a regularizer is one file in this folder with a class decorated by ``@REGULARIZERS.register("Name")``; it
then appears in configs, ``pruningbench list`` and the regularizer track of the leaderboards.

A regularizer acts on gradients, the way Torch-Pruning's regularizing pruners do: the training loop calls
``apply()`` after every ``loss.backward()`` and before ``optimizer.step()``, adding the gradient of its penalty to
the parameters' ``.grad``; ``epoch_end()`` after every epoch (growing schedules). Everything it needs to resume an
interrupted sparsifying run is in ``state_dict()``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch_pruning as tp
from torch import nn

from pruningbench.registry import Registry, import_submodules

if TYPE_CHECKING:
    from pruningbench.config import SparsifyConfig

__all__ = ["REGULARIZERS", "Regularizer", "SparsifyContext", "create_regularizer"]


@dataclass
class SparsifyContext:
    """The model being sparsified and its DepGraph groups (outputs excluded, as in the prune stage)."""

    model: nn.Module
    example: torch.Tensor  # one input, for Torch-Pruning's tracing
    groups: list[tp.Group]
    ignored_layers: list[nn.Module]  # layers that are never pruned (the classifier)
    marked: list[torch.Tensor] | None = None  # per group, bool: channels the run will prune (``marks_channels``)


class Regularizer(ABC):
    """Contract of a sparsity regularizer (see the module docstring for when each method is called)."""

    marks_channels: ClassVar[bool] = False  # needs ``SparsifyContext.marked`` (so its model depends on the target)

    def __init__(self, settings: SparsifyConfig) -> None:
        self.settings = settings

    @abstractmethod
    def attach(self, context: SparsifyContext) -> None:
        """Bind to the model that will be trained."""

    @abstractmethod
    def apply(self) -> None:
        """Add the penalty's gradient to the bound model's ``.grad`` tensors."""

    def epoch_end(self) -> None:
        """Advance a schedule after every sparsifying epoch (no-op for constant penalties)."""

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs beyond the model and optimizer (empty for stateless penalties)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


REGULARIZERS: Registry[type[Regularizer]] = Registry("regularizer", entry_points="pruningbench.regularizers")


def create_regularizer(name: str, settings: SparsifyConfig) -> Regularizer:
    """Instantiate the regularizer registered as ``name``."""
    return REGULARIZERS.get(name)(settings)


import_submodules(__name__)
