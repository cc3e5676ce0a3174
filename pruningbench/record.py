"""The result record: everything one run produced, the only thing the store and the leaderboards consume."""

from __future__ import annotations

import platform
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["RunRecord", "library_versions"]


class RunRecord(BaseModel):
    """One finished pruning run: identity, method, cost and quality before/after, timings, per-layer widths."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    run_key: str  # hash of the config minus paths/device; one stored record per key
    created_at: datetime
    task: str  # board name, e.g. "resnet18_cifar on cifar100"
    model: str
    dataset: str
    importance: str
    regularizer: str | None
    scope: str
    protected_share: float
    seed: int
    metric: str  # name of the quality metric, e.g. "top1"
    base_metric: float
    pruned_metric: float  # after finetuning
    pruned_metric_before_finetune: float
    target_speedup: float
    achieved_speedup: float
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    step_time: float  # importance computation, seconds
    prune_time: float  # choosing and removing channels, seconds
    reg_time: float | None  # sparsifying stage, seconds (None without a regularizer)
    finetune_time: float
    base_train_time: float
    base_metrics: dict[str, float] | None = None  # every metric of the base model, e.g. top1 and top5
    pruned_metrics: dict[str, float] | None = None  # the same after finetuning
    # Forward time of a latency batch, unpruned model: the fastest median measured for this base model and timing
    # setup by any run of the results directory (latency/reference.py), the same on every row of a board.
    base_latency_ms: float | None = None
    latency_ms: float | None = None  # the pruned model's: base_latency_ms / latency_ratio (the run's own medians:
    # latencies["engine@batch"]["base_ms" / "pruned_ms"])
    latency_device: str | None = None
    latency_ratio: float | None = None  # median over interleaved pairs of base time / pruned time
    latency_ratio_ci: tuple[float, float] | None = None  # its bootstrap 95% interval
    latencies: dict[str, dict[str, Any]] | None = None  # every engine and batch measured, "engine@batch" -> figures
    predicted_latency_ratio: float | None = None  # latency-targeted runs: the speed-up the latency table predicted
    channels_before: dict[str, int]
    channels_after: dict[str, int]
    config: dict[str, Any]
    versions: dict[str, str]
    model_path: str  # pruned model file, relative to the results directory
    origin: str = "run here"  # or "submitted": uploaded as a results bundle by someone who ran it elsewhere
    submitted_by: str | None = None  # the token name that submitted it
    verification: dict[str, Any] | None = None  # for submissions: what the server recomputed, and whether it agreed

    @property
    def delta(self) -> float:
        """ΔAcc = pruned - base, in metric points."""
        return self.pruned_metric - self.base_metric

    @property
    def latency_speedup(self) -> float | None:
        """Measured speed-up of a forward pass (the median ratio of interleaved pairs; records from before pairs were
        measured: base latency / pruned latency), beside the MACs speed-up."""
        if self.latency_ratio is not None:
            return self.latency_ratio
        if self.base_latency_ms is None or self.latency_ms is None:
            return None
        return self.base_latency_ms / self.latency_ms

    @property
    def latency_noisy(self) -> bool:
        """The measured speed-up's interval is wider than ±10% of it (a busy machine): not to be trusted."""
        if self.latency_ratio is None or self.latency_ratio_ci is None:
            return False
        low, high = self.latency_ratio_ci
        return (high - low) / 2 > 0.10 * self.latency_ratio

    @property
    def throughput(self) -> float | None:
        """Measured images per second of the pruned model at the latency batch size."""
        if self.latency_ms is None:
            return None
        return self.config.get("latency", {}).get("batch_size", 0) / (self.latency_ms / 1000) or None

    @property
    def params_share(self) -> float:
        """Remaining parameters as a share of the unpruned model (0-1)."""
        return self.params_after / self.params_before


def library_versions() -> dict[str, str]:
    """Versions of everything that can change a result, recorded with every run."""
    import torch
    import torch_pruning
    import torchvision

    import pruningbench

    return {
        "pruningbench": pruningbench.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "torch_pruning": getattr(torch_pruning, "__version__", "unknown"),
    }
