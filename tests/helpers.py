"""Building blocks for tests that need result records without running the pipeline."""

from datetime import datetime, timezone
from pathlib import Path

import torch

from pruningbench.record import RunRecord


def make_record(importance: str = "MagnitudeL2", pruned: float = 70.0, **fields) -> RunRecord:
    """A complete, plausible record; ``fields`` override any attribute."""
    values = dict(
        run_id=f"{importance}-{pruned}-{fields.get('seed', 0)}-{fields.get('target_speedup', 2.0)}",
        run_key=f"key-{importance}-{pruned}-{fields.get('seed', 0)}-{fields.get('target_speedup', 2.0)}",
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        task="resnet18_cifar on cifar100",
        model="resnet18_cifar",
        dataset="cifar100",
        importance=importance,
        regularizer=None,
        scope="protected_global",
        protected_share=0.1,
        seed=0,
        metric="top1",
        base_metric=75.0,
        pruned_metric=pruned,
        pruned_metric_before_finetune=10.0,
        target_speedup=2.0,
        achieved_speedup=2.004,
        params_before=11_220_132,
        params_after=5_610_066,
        macs_before=556_000_000,
        macs_after=277_000_000,
        step_time=0.136,
        prune_time=0.2,
        reg_time=None,
        finetune_time=10.0,
        base_train_time=100.0,
        base_latency_ms=8.0,
        latency_ms=5.0,
        latency_device="cpu (2 threads)",
        channels_before={"conv1": 64},
        channels_after={"conv1": 32},
        config={"seed": 0, "latency": {"batch_size": 64}},
        versions={"torch": "2"},
        model_path="models/x.pt",
    )
    values.update(fields)
    return RunRecord(**values)


def serial_records(configs: list, results_dir: Path) -> list[RunRecord]:
    """``configs`` run one after another in this process with one torch thread, as a one-thread worker runs them
    (CPU results depend on the thread count)."""
    from pruningbench.pipeline import run_experiment
    from pruningbench.store import ResultStore

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [run_experiment(config, ResultStore.in_dir(results_dir)) for config in configs]
    finally:
        torch.set_num_threads(threads)


def assert_same_results(stored: list[RunRecord], serial: list[RunRecord]) -> None:
    """``stored`` (from workers or a cluster) are the runs of ``serial``, with the same results."""
    by_key = {record.run_key: record for record in stored}
    assert sorted(by_key) == sorted(record.run_key for record in serial)
    for expected in serial:
        got = by_key[expected.run_key]
        assert (got.base_metric, got.pruned_metric_before_finetune, got.pruned_metric, got.achieved_speedup) == (
            expected.base_metric, expected.pruned_metric_before_finetune, expected.pruned_metric,
            expected.achieved_speedup,
        )
        assert got.channels_after == expected.channels_after
