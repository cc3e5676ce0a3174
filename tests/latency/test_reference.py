"""The base model's reference timing: the fastest median any run measured, per base model and setup."""

import logging
import multiprocessing

from pruningbench.latency.pairs import Latency, SpeedupMeasurement
from pruningbench.latency.reference import BaseTimings


def test_the_reference_is_the_fastest_median_measured_and_outlives_the_process(tmp_path, caplog):
    timings = BaseTimings(tmp_path)
    assert timings.reference("resnet cpu fp32 batch 16", 10.0) == 10.0
    assert timings.reference("resnet cpu fp32 batch 16", 9.0) == 9.0  # faster: the new reference
    with caplog.at_level(logging.WARNING):
        assert BaseTimings(tmp_path).reference("resnet cpu fp32 batch 16", 20.0) == 9.0  # slower: measured under load
    assert "2.22x slower than its reference" in caplog.text
    assert timings.reference("resnet cpu bf16 batch 16", 30.0) == 30.0  # another setup, its own reference


def test_every_engine_and_batch_of_a_run_gets_its_own_reference(tmp_path):
    def measured(base_ms: float) -> SpeedupMeasurement:
        base = Latency(base_ms, 1000 / base_ms, 1, "cpu (2 threads)")
        return SpeedupMeasurement(2.0, 1.9, 2.1, base, Latency(base_ms / 2, 2000 / base_ms, 1, "cpu (2 threads)"))

    timings = BaseTimings(tmp_path)
    assert timings.references("base-a", {"eager@16": measured(8.0), "eager@1": measured(1.0)}) == {
        "eager@16": 8.0,
        "eager@1": 1.0,
    }
    assert timings.references("base-a", {"eager@16": measured(12.0)}) == {"eager@16": 8.0}
    assert timings.references("base-b", {"eager@16": measured(12.0)}) == {"eager@16": 12.0}


def _offer(folder, values: list[float], start) -> None:
    timings = BaseTimings(folder)
    start.wait()
    for value in values:
        timings.reference("shared", value)


def test_processes_updating_at_once_keep_the_fastest(tmp_path):
    """Without the lock, a process writing what it read before another's faster time would lose that time."""
    context = multiprocessing.get_context("spawn")
    values = [float(10_000 - index) for index in range(1600)]  # every offer is a new fastest, in every process
    start = context.Barrier(4)
    processes = [context.Process(target=_offer, args=(tmp_path, values[i::4], start)) for i in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0, 0, 0, 0]
    assert BaseTimings(tmp_path).reference("shared", 10_000.0) == min(values)
