"""Determinism: the setting turns the deterministic kernels on (or cuDNN's autotuner), and a seed reproduces a run
bit for bit on the device it ran on (the one the pipeline picks: CUDA when present)."""

import torch

from pruningbench.checkpoint import load_pruned
from pruningbench.pipeline import run_experiment
from pruningbench.seeding import configure_determinism
from pruningbench.store import ResultStore


def test_the_setting_switches_deterministic_kernels_and_the_autotuner():
    try:
        configure_determinism(False)
        assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic
        assert not torch.are_deterministic_algorithms_enabled()
        configure_determinism(True)
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        configure_determinism(True)


def test_a_seed_reproduces_a_run_bit_for_bit(tiny_config, tmp_path):
    records, weights = [], []
    for attempt in range(2):  # separate results folders: the base model is trained again, not reused
        config = tiny_config(**{"prune.speedup": 2, "results_dir": str(tmp_path / str(attempt))})
        record = run_experiment(config, ResultStore.in_dir(config.results_dir))
        records.append(record)
        weights.append(load_pruned(config.results_dir / record.model_path).state_dict())
    first, second = records
    assert (first.base_metric, first.pruned_metric_before_finetune, first.pruned_metric, first.channels_after) == (
        second.base_metric,
        second.pruned_metric_before_finetune,
        second.pruned_metric,
        second.channels_after,
    )
    assert first.config["deterministic"] is True  # the record says which mode ran
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
