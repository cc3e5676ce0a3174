"""Random (Mittal et al., "Recovering from Random Pruning", WACV 2018): the control every criterion must beat.

Scores are uniform draws from a generator seeded by the run's seed, consumed in the (deterministic) group order:
the same seed gives the same scores, another seed other scores. Torch-Pruning's ``RandomImportance`` draws from
the global RNG, which other code also consumes, so it is not used.
"""

from __future__ import annotations

import torch
import torch_pruning as tp

from pruningbench.methods.importance import CRITERIA, Criterion


@CRITERIA.register("Random")
class Random(Criterion):
    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self._generator = torch.Generator().manual_seed(seed)

    def score(self, group: tp.Group) -> torch.Tensor:
        return torch.rand(len(group[0].idxs), generator=self._generator)
