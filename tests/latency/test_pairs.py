"""Interleaved pair timing: every pass runs, a model timed against itself is 1 within its interval, less work is
measurably faster, threads are fixed and given back, every engine and batch is measured."""

import copy

import pytest
import torch
from torch import nn

from pruningbench.latency import TimingSetup, measure_engines, measure_speedup


def test_pairs_time_both_models_after_warm_up_and_restore_their_modes():
    calls = {"base": 0, "pruned": 0}
    base, pruned = nn.Sequential(nn.Linear(4, 4)), nn.Sequential(nn.Linear(4, 2))
    base.register_forward_hook(lambda *_: calls.__setitem__("base", calls["base"] + 1))
    pruned.register_forward_hook(lambda *_: calls.__setitem__("pruned", calls["pruned"] + 1))
    measured = measure_speedup(base, pruned, (4,), batch_size=8, warmup=3, repeats=5)
    assert calls == {"base": 8, "pruned": 8}  # warm-up passes are not timed but do run
    assert measured.pruned.median_ms > 0 and measured.pruned.throughput == pytest.approx(
        8 / (measured.pruned.median_ms / 1000)
    )
    assert measured.low <= measured.speedup <= measured.high
    assert measured.pruned.device.startswith("cpu") and base.training and pruned.training  # modes restored


def _convs(width: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(32, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 32, 3, padding=1))


def test_a_model_timed_against_itself_is_one_within_a_few_percent():
    model = _convs(64)
    measured = measure_speedup(model, copy.deepcopy(model), (32, 16, 16), batch_size=8, warmup=5, repeats=40)
    # a 95% interval misses 1 in one try of twenty by design: the test asks for an interval close to 1 instead
    assert 0.8 < measured.speedup < 1.25 and measured.low < 1.05 and measured.high > 0.95


def test_a_quarter_of_the_work_measures_several_times_faster():
    measured = measure_speedup(_convs(128), _convs(16), (32, 16, 16), batch_size=8, warmup=5, repeats=30)
    assert measured.speedup > 2.0 and measured.low > 1.5  # 8x fewer MACs; well clear of 1 whatever the noise


def test_timing_threads_are_fixed_recorded_and_given_back():
    threads = torch.get_num_threads()
    measured = measure_speedup(_convs(16), _convs(8), (32, 8, 8), batch_size=2, warmup=1, repeats=3, threads=1)
    assert measured.pruned.device == "cpu (1 threads)" and torch.get_num_threads() == threads


def test_every_engine_is_measured_at_the_configured_batch_and_at_batch_1():
    pytest.importorskip("onnxruntime")
    model = _convs(32)
    setup = TimingSetup(torch.device("cpu"), batch_size=4, threads=1)
    measured = measure_engines(
        model, copy.deepcopy(model), (32, 8, 8), ["eager", "onnxruntime"], setup, 2, 15, extra_batches=(1,)
    )
    assert list(measured) == ["eager@4", "eager@1", "onnxruntime@4", "onnxruntime@1"]
    assert measured["onnxruntime@4"].pruned.device == "cpu (1 threads) onnxruntime CPU"
    assert measured["eager@1"].pruned.batch_size == 1
    for figure in measured.values():  # the same model on both sides, in every engine
        assert 0.8 < figure.speedup < 1.25 and figure.low <= figure.speedup <= figure.high
