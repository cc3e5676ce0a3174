"""The library surface: prune any PyTorch model to an exact MACs target with any registered criterion.

``pruningbench.prune`` is the benchmark's own prune stage (DepGraph grouping, the criterion's scores, the exact
speed-up search) behind one call, with the same validation as a run config: a model pruned here is pruned exactly
as a benchmark run would prune it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from pruningbench.config import PruneConfig
from pruningbench.methods.importance import Batch, Criterion, create_criterion
from pruningbench.models.structure import kept_whole
from pruningbench.pipeline.prune import PruneOutcome, prune_to_speedup

__all__ = ["prune"]


def prune(
    model: nn.Module,
    example_inputs: torch.Tensor,
    criterion: str | Criterion = "MagnitudeL2",
    speedup: float = 2.0,
    *,
    scope: Literal["local", "global", "protected_global"] = "protected_global",
    calibration: list[Batch] | None = None,
    round_to: int = 1,
    ignored_layers: Sequence[nn.Module] = (),
    protected_share: float = 0.1,
    seed: int = 0,
) -> PruneOutcome:
    """Prune ``model`` in place to ``speedup`` x fewer MACs (within 1% where the channel steps allow it).

    ``example_inputs`` is one batch the model accepts (its shape sets the MACs count); ``criterion`` a registered
    name (``pruningbench list``) or a :class:`Criterion`; ``calibration`` a list of ``(images, labels)`` batches,
    needed by data-driven criteria; layers whose output layout matters go in ``ignored_layers`` (the model's own
    output layers are always kept). Returns what the prune stage records: MACs and parameters before and after,
    the achieved speed-up, the criterion's step time and the channels of every layer before and after.
    """
    config = PruneConfig(speedup=speedup, scope=scope, round_to=round_to, protected_share=protected_share)
    chosen = criterion if isinstance(criterion, Criterion) else create_criterion(criterion, seed)
    with kept_whole(ignored_layers):
        return prune_to_speedup(model, chosen, example_inputs, config, calibration)
