"""Stage 1, sparsifying (optional): train the base model further under the run's sparsity regularizer.

The sparsified model is cached under ``results_dir/cache/sparse/`` keyed by what determines it
(:meth:`RunConfig.sparse_key`), so every run that needs it reuses it and reports the stage's original wall time as
its Reg Time. Training saves a checkpoint after every epoch; an interrupted stage resumes from the last one.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from torch import nn

from pruningbench.checkpoint import atomic_save
from pruningbench.config import RunConfig
from pruningbench.methods.importance import Batch, create_criterion
from pruningbench.methods.regularizers import Regularizer, SparsifyContext, create_regularizer
from pruningbench.pipeline.group import build_groups, output_layers
from pruningbench.pipeline.hooks import current_hooks
from pruningbench.pipeline.prune import plan_pruning
from pruningbench.pipeline.workload import Workload

__all__ = ["regularizer_context", "sparse_cache_path", "sparsify"]

log = logging.getLogger(__name__)


def sparse_cache_path(config: RunConfig, regularizer: Regularizer) -> Path:
    """Where the sparsified model of ``config`` is cached."""
    return config.results_dir / "cache" / "sparse" / f"{config.sparse_key(regularizer.marks_channels)}.pt"


def sparsify(
    model: nn.Module, config: RunConfig, workload: Workload, device: torch.device, calibration: list[Batch] | None
) -> float:
    """Sparsify ``model`` (the base model, in place) for ``config``; the stage's wall time in seconds.

    ``calibration`` is needed only when the regularizer marks channels with a data-driven criterion.
    """
    if config.method.regularizer is None or config.sparsify is None:
        raise ValueError("the run has no regularizer to sparsify with")
    regularizer = create_regularizer(config.method.regularizer, config.sparsify)
    cache = sparse_cache_path(config, regularizer)
    if cache.is_file():
        log.info("sparsify: reusing %s", cache)
    else:
        with current_hooks().exclusive(f"sparsified model {cache.stem}"):  # one run builds it, the others wait
            if not cache.is_file():
                _build(model, config, workload, device, calibration, regularizer, cache)
    payload = torch.load(cache, map_location=device, weights_only=True)
    model.load_state_dict(payload["state_dict"])
    return float(payload["reg_time"])


def _build(
    model: nn.Module, config: RunConfig, workload: Workload, device: torch.device, calibration: list[Batch] | None,
    regularizer: Regularizer, cache: Path,
) -> None:
    """Train ``model`` under ``regularizer`` (resuming from the last epoch checkpoint) and cache the result."""
    started = time.perf_counter()
    example = torch.zeros(1, *workload.input_shape, device=device)  # for tracing only
    regularizer.attach(regularizer_context(model, config, example, regularizer, calibration))
    marking_time = time.perf_counter() - started
    partial = cache.with_suffix(".partial.pt")
    if partial.is_file():
        log.info("sparsify: resuming from %s", partial)
    log.info("sparsify: %s for %d epochs", config.method.regularizer, config.sparsify.epochs)
    training_time = workload.train(
        model, config.sparsify, config.base_seed, desc=f"sparsify ({config.method.regularizer})",
        regularizer=regularizer, checkpoint=partial,
    )
    reg_time = marking_time + training_time
    atomic_save({"state_dict": model.state_dict(), "reg_time": reg_time}, cache)
    partial.unlink(missing_ok=True)
    log.info("sparsify: done in %.1f s, cached at %s", reg_time, cache)


def regularizer_context(
    model: nn.Module, config: RunConfig, example: torch.Tensor, regularizer: Regularizer, calibration: list[Batch] | None
) -> SparsifyContext:
    """The groups to regularize and, for a regularizer that needs them, the channels the run will prune."""
    marked = None
    if regularizer.marks_channels:
        criterion = create_criterion(config.method.importance, config.seed)
        plan = plan_pruning(model, criterion, example, config.prune, calibration)
        groups = plan.groups
        marked = [torch.zeros(g.size, dtype=torch.bool).index_fill_(0, idxs, True) for g, idxs in zip(groups, plan.removal)]
    else:
        groups = build_groups(model, example)[1]
    return SparsifyContext(model, example, [g.group for g in groups], output_layers(model, example), marked)
