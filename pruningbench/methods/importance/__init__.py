"""Importance criteria: each scores the channels of one DepGraph group; the lowest scores are pruned first.

Adding a criterion is one file in this folder with a class decorated by ``@CRITERIA.register("Name")``; it then
appears in configs, ``pruningbench list``, and the leaderboards.

Conventions shared by every criterion (so that only the scoring rule differs between them):
- a channel's score is computed per layer of its group and **averaged over the group's layers** that the criterion
  looks at (Torch-Pruning's ``group_reduction="mean"``);
- before a global ranking the prune stage **divides each group's scores by their mean**, unless the criterion's
  score is already comparable across layers by definition (``normalized = False``, e.g. LAMP);
- data-driven criteria (``calibrated = True``) see the same seeded calibration batches in every run of a seed, with
  the model in eval mode (BatchNorm uses its running statistics and is not updated).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
import torch_pruning as tp
from torch import nn

from pruningbench.registry import Registry, import_submodules

__all__ = ["CRITERIA", "Batch", "Criterion", "Targets", "create_criterion"]

Targets = torch.Tensor | dict[str, torch.Tensor]  # class labels, or a detector's boxes (ultralytics batch keys)
Batch = tuple[torch.Tensor, Targets]  # (images, targets) on the model's device


class Criterion(ABC):
    """Contract of an importance criterion.

    ``score(group)`` returns one finite, non-negative score per channel of the group's root layer (shape ``[n]``);
    lower means less important. Criteria with ``calibrated = True`` get ``prepare`` called once, before scoring,
    with the model, its groups and the calibration batches; both count as the run's step time.
    """

    calibrated: ClassVar[bool] = False
    gradients: ClassVar[bool] = False  # a calibrated criterion that needs backward passes (else forward passes only)
    normalized: ClassVar[bool] = True

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def prepare(self, model: nn.Module, groups: list[tp.Group], batches: list[Batch]) -> None:
        """Collect what scoring needs from calibration data (data-driven criteria only)."""

    @abstractmethod
    def score(self, group: tp.Group) -> torch.Tensor:
        """Per-channel importance of ``group``'s root channels."""


CRITERIA: Registry[type[Criterion]] = Registry("importance criterion", entry_points="pruningbench.criteria")


def create_criterion(name: str, seed: int = 0) -> Criterion:
    """Instantiate the criterion registered as ``name``."""
    return CRITERIA.get(name)(seed=seed)


import_submodules(__name__)
