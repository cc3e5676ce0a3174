import pytest
import torch
from torch import nn

import copy

from pruningbench.metrics import count_macs, measure_speedup


def test_macs_of_a_known_conv_and_linear():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    # conv: 8 outputs x 4x4 positions x (3x3x3) = 3456; linear: 128 x 10 = 1280
    assert count_macs(model, (3, 4, 4)) == 3456 + 1280


def test_pairs_time_both_models_after_warm_up_and_restore_their_modes():
    calls = {"base": 0, "pruned": 0}
    base, pruned = nn.Sequential(nn.Linear(4, 4)), nn.Sequential(nn.Linear(4, 2))
    base.register_forward_hook(lambda *_: calls.__setitem__("base", calls["base"] + 1))
    pruned.register_forward_hook(lambda *_: calls.__setitem__("pruned", calls["pruned"] + 1))
    measured = measure_speedup(base, pruned, (4,), batch_size=8, warmup=3, repeats=5)
    assert calls == {"base": 8, "pruned": 8}  # warm-up passes are not timed but do run
    assert measured.pruned.median_ms > 0 and measured.pruned.throughput == pytest.approx(
        8 / (measured.pruned.median_ms / 1000))
    assert measured.low <= measured.speedup <= measured.high
    assert measured.pruned.device.startswith("cpu") and base.training and pruned.training  # modes restored


def _convs(width: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(32, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 32, 3, padding=1))


def test_a_model_timed_against_itself_is_one_within_its_interval():
    model = _convs(64)
    measured = measure_speedup(model, copy.deepcopy(model), (32, 16, 16), batch_size=8, warmup=5, repeats=40)
    assert measured.low <= 1.0 <= measured.high and 0.8 < measured.speedup < 1.25


def test_a_quarter_of_the_work_measures_several_times_faster():
    measured = measure_speedup(_convs(128), _convs(16), (32, 16, 16), batch_size=8, warmup=5, repeats=30)
    assert measured.speedup > 2.0 and measured.low > 1.5  # 8x fewer MACs; well clear of 1 whatever the noise


def test_topk_accuracy_of_known_predictions():
    from torch.utils.data import DataLoader, TensorDataset

    from pruningbench.metrics import evaluate_topk

    # 3 classes, logits = the input; labels: ranked 1st, 2nd, 3rd, 1st
    logits = torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    labels = torch.tensor([0, 1, 2, 2])
    metrics = evaluate_topk(nn.Identity(), DataLoader(TensorDataset(logits, labels), batch_size=3), torch.device("cpu"),
                            ks=(1, 2, 5))
    assert metrics == {"top1": 50.0, "top2": 75.0, "top5": 100.0}  # k capped at the 3 classes


def test_timing_threads_are_fixed_recorded_and_given_back():
    threads = torch.get_num_threads()
    measured = measure_speedup(_convs(16), _convs(8), (32, 8, 8), batch_size=2, warmup=1, repeats=3, threads=1)
    assert measured.pruned.device == "cpu (1 threads)" and torch.get_num_threads() == threads
