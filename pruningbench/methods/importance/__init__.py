"""Importance criteria: each scores the channels of one DepGraph group; the lowest scores are pruned first.

Adding a criterion is one file in this folder with a class decorated by ``@CRITERIA.register("Name")``; it then
appears in configs, ``pruningbench list``, and the leaderboards.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch_pruning as tp

from pruningbench.registry import Registry, import_submodules

__all__ = ["CRITERIA", "Criterion", "create_criterion"]


class Criterion(ABC):
    """Contract of an importance criterion.

    ``score(group)`` returns one non-negative score per channel of the group's root layer (shape ``[n]``); lower
    means less important. Scores are compared within a group as returned; the prune stage normalizes them per group
    (divides by the group mean) before any global ranking, so criteria need not care about cross-group scale.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @abstractmethod
    def score(self, group: tp.Group) -> torch.Tensor:
        """Per-channel importance of ``group``'s root channels."""


CRITERIA: Registry[type[Criterion]] = Registry("importance criterion")


def create_criterion(name: str, seed: int = 0) -> Criterion:
    """Instantiate the criterion registered as ``name``."""
    return CRITERIA.get(name)(seed=seed)


import_submodules(__name__)
