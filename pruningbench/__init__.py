"""pruningbench: a benchmark and toolkit for structural pruning of vision models.

The library surface, for notebooks and your own code (imported on first use, so ``import pruningbench`` stays light)::

    import pruningbench as pb
    outcome = pb.prune(model, example_inputs, criterion="Taylor", speedup=2.0, calibration=batches)
    record = pb.run("my_run.yaml")
    results = pb.load_results("results")  # results.records, results.boards: pandas DataFrames

    @pb.register_criterion("MyCriterion")
    class MyCriterion(pb.Criterion): ...
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_EXPORTS = {
    "prune": ("pruningbench.api", "prune"),
    "run": ("pruningbench.api", "run"),
    "load_results": ("pruningbench.api", "load_results"),
    "Results": ("pruningbench.api", "Results"),
    "RunConfig": ("pruningbench.config", "RunConfig"),
    "RunRecord": ("pruningbench.record", "RunRecord"),
    "PruneOutcome": ("pruningbench.pipeline.prune", "PruneOutcome"),
    "Criterion": ("pruningbench.methods.importance", "Criterion"),
    "Regularizer": ("pruningbench.methods.regularizers", "Regularizer"),
    "register_criterion": ("pruningbench.methods.importance", "CRITERIA.register"),
    "register_regularizer": ("pruningbench.methods.regularizers", "REGULARIZERS.register"),
    "register_model": ("pruningbench.models", "MODELS.register"),
    "register_dataset": ("pruningbench.data", "DATASETS.register"),
    "DataSplits": ("pruningbench.data", "DataSplits"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pruningbench' has no attribute {name!r}")
    module_name, path = _EXPORTS[name]
    value: Any = importlib.import_module(module_name)
    for part in path.split("."):
        value = getattr(value, part)
    return value
