"""The library surface: prune any model, run an experiment, and read stored results as pandas DataFrames.

``pruningbench.prune`` is the benchmark's own prune stage (DepGraph grouping, the criterion's scores, the exact
speed-up search) behind one call, with the same validation as a run config: a model pruned here is pruned exactly
as a benchmark run would prune it. ``run`` and ``load_results`` are what ``pruningbench run`` and
``pruningbench leaderboard`` do, for notebooks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from pruningbench.config import PruneConfig, RunConfig, load_config, parse_config
from pruningbench.leaderboard import build_boards
from pruningbench.methods.importance import Batch, Criterion, create_criterion
from pruningbench.models.structure import kept_whole
from pruningbench.pipeline import run_experiment
from pruningbench.pipeline.prune import PruneOutcome, prune_to_speedup
from pruningbench.record import RunRecord
from pruningbench.store import ResultStore, default_url

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Results", "load_results", "prune", "run"]


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


def run(
    config: RunConfig | dict[str, Any] | str | Path, db_url: str | None = None, force: bool = False
) -> RunRecord:
    """Run one experiment (a config object, a mapping of config keys, or a YAML file) and store its record in the
    store of ``db_url``, else in the config's ``results_dir``; a stored run with the same identity is returned as is
    (``force``: run it again)."""
    if isinstance(config, (str, Path)):
        config = load_config(Path(config))
    elif isinstance(config, dict):
        config = parse_config(dict(config))
    return run_experiment(config, ResultStore(db_url or default_url(config.results_dir)), force=force)


@dataclass(frozen=True)
class Results:
    """Stored results as DataFrames: ``records`` has one row per run (every record field a column), ``boards`` one
    frame per leaderboard, keyed by its title, rows in rank order."""

    records: pd.DataFrame
    boards: dict[str, pd.DataFrame]


def load_results(results_dir: str | Path = "results", db_url: str | None = None, task: str | None = None) -> Results:
    """The records and leaderboards of a store (``db_url``, else the SQLite store in ``results_dir``), optionally of
    one task (e.g. ``"resnet18_cifar on cifar100"``)."""
    import pandas as pd

    records = ResultStore(db_url or default_url(Path(results_dir))).records()
    if task is not None:
        records = [record for record in records if record.task == task]
    boards = {
        board.title: pd.DataFrame([{"method": row.label, **dataclasses.asdict(row)} for row in board.rows])
        for board in build_boards(records)
    }
    return Results(pd.DataFrame([record.model_dump() for record in records]), boards)
