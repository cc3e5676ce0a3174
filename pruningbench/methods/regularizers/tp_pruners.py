"""Building Torch-Pruning's regularizing pruners safely: traced in eval mode, no shared mutable defaults."""

from __future__ import annotations

from typing import Any

import torch_pruning as tp

from pruningbench.methods.regularizers import SparsifyContext
from pruningbench.models.structure import unwrapped_parameters

__all__ = ["build_tp_pruner"]


def build_tp_pruner(pruner_class: type[tp.pruner.BasePruner], context: SparsifyContext, **settings: Any) -> Any:
    """``pruner_class`` bound to ``context.model``, with its classifier ignored.

    Tracing runs in eval mode, so it does not move BatchNorm running statistics; the dict arguments are passed
    fresh because Torch-Pruning's mutable defaults leak state between instances.
    """
    model = context.model
    was_training = model.training
    model.eval()
    try:
        return pruner_class(
            model,
            context.example,
            ignored_layers=list(context.ignored_layers),
            in_channel_groups={},
            out_channel_groups={},
            num_heads={},
            channel_groups={},
            unwrapped_parameters=unwrapped_parameters(model),
            **settings,
        )
    finally:
        model.train(was_training)
