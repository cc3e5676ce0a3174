"""Building blocks for tests that need result records without running the pipeline."""

from datetime import datetime, timezone

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
