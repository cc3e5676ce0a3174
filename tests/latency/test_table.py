"""The latency table and the model latency it predicts: exact on a cost that is bilinear in the widths, cached per
device, and close to the measured latency of a really pruned toy model."""

import statistics
import time

import pytest
import torch
from torch import nn

from pruningbench.latency import TimingSetup
from pruningbench.latency.engines import ENGINES, LayerSpec
from pruningbench.latency.table import LatencyModel, LatencyTable, grid_widths
from pruningbench.pipeline.cost import MacsModel
from pruningbench.pipeline.group import build_groups
from pruningbench.pipeline.prune import remove_channels

SHAPE = (16, 24, 24)
SETUP = TimingSetup(torch.device("cpu"), batch_size=8, threads=1)


def _toy() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(16, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.Conv2d(64, 96, 3, padding=1),
        nn.BatchNorm2d(96),
        nn.ReLU(),
        nn.Conv2d(96, 16, 3, padding=1),
    ).eval()


def _setup(model: nn.Module):
    """Its groups (the 96-wide one first, then the 64-wide one), and their MACs model."""
    example = torch.randn(1, *SHAPE)
    graph, groups = build_groups(model, example)
    return graph, groups, MacsModel(model, graph, groups, example)


def _flags(macs: MacsModel, removal: list[torch.Tensor]) -> torch.Tensor:
    flags = torch.zeros(macs.offsets[-1], dtype=torch.bool)
    for offset, idxs in zip(macs.offsets, removal):
        flags[offset + idxs] = True
    return flags


def _median_ms(model: nn.Module, repeats: int = 15) -> float:
    torch.set_num_threads(1)
    batch = torch.randn(SETUP.batch_size, *SHAPE)
    times = []
    with torch.inference_mode():
        for index in range(repeats + 3):
            started = time.perf_counter()
            model(batch)
            if index >= 3:
                times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def test_grid_widths_follow_the_search_s_unit():
    assert grid_widths(64, 1) == [1, 8, 16, 32, 48, 64]
    assert grid_widths(100, 8) == [8, 16, 24, 48, 72, 96, 100]  # multiples of 8, and the full width
    assert grid_widths(3, 1, prunable=False) == [3]


def test_the_prediction_is_exact_for_a_cost_bilinear_in_the_widths(tmp_path):
    model = _toy()
    _graph, _groups, macs = _setup(model)
    table = LatencyTable(tmp_path, ENGINES.get("eager")(), SETUP)
    cost = lambda c_in, c_out: 0.5 + 0.01 * c_in + 0.02 * c_out + 0.001 * c_in * c_out
    spec = LayerSpec.of(model[0], SHAPE)  # the three convs share a spec (3x3, padding 1, 24x24)
    widths = {16, *grid_widths(64, 1), *grid_widths(96, 1)}
    for c_in in widths:
        for c_out in widths:
            table.entries[f"{spec.key} batch=8 widths={c_in}x{c_out}"] = cost(c_in, c_out)
    layers = cost(16, 64) + cost(64, 96) + cost(96, 16)
    model_latency = LatencyModel(macs, table, measured_ms=layers + 3.0, step=1)
    assert table.measured == 0 and model_latency.total == pytest.approx(layers + 3.0)
    removal = [torch.arange(50), torch.arange(27)]  # 96 -> 46 and 64 -> 37 channels: between the measured widths
    predicted = model_latency.cost(_flags(macs, removal))
    kept_activations = (37 + 46 + 16) / (64 + 96 + 16)  # the rest (3 ms) shrinks with the layers' outputs
    assert predicted == pytest.approx(cost(16, 37) + cost(37, 46) + cost(46, 16) + 3.0 * kept_activations)
    smallest = [torch.arange(88), torch.arange(56)]  # 96 -> 8 and 64 -> 8 channels
    small_layers = cost(16, 8) + cost(8, 8) + cost(8, 16)
    small_share = (8 + 8 + 16) / (64 + 96 + 16)
    model_latency.fit_rest(
        _flags(macs, smallest), small_layers + 1.0 + 2.0 * small_share
    )  # of the 3 ms: 1 fixed, 2 shrink
    assert (model_latency.fixed, model_latency.scaled) == (pytest.approx(1.0), pytest.approx(2.0))
    assert model_latency.cost(_flags(macs, removal)) == pytest.approx(
        predicted - 3.0 * kept_activations + 1.0 + 2.0 * kept_activations
    )


def test_a_measured_table_predicts_a_pruned_model_s_latency_and_is_cached(tmp_path):
    model = _toy()
    graph, groups, macs = _setup(model)
    table = LatencyTable(tmp_path, ENGINES.get("eager")(), SETUP)
    model_latency = LatencyModel(macs, table, measured_ms=_median_ms(model), step=1)
    assert table.measured > 0 and table.path.is_file()
    removal = [torch.arange(72), torch.arange(40)]  # 96 -> 24 and 64 -> 24 channels
    predicted = model_latency.cost(_flags(macs, removal))
    remove_channels(model, graph, groups, removal)
    measured = _median_ms(model)
    assert predicted == pytest.approx(measured, rel=0.25)  # a noisy shared 2-core machine: the run re-checks it
    again = LatencyTable(tmp_path, ENGINES.get("eager")(), SETUP)
    LatencyModel(macs, again, measured_ms=10.0, step=1)
    assert again.measured == 0  # every width came from the file
