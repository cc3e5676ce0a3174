"""A latency speed-up that survives a noisy machine: the base and the pruned model timed in interleaved pairs.

A neighbour that slows the machine slows both halves of a pair alike, so the median of the per-pair ratios holds
where two separate medians would not; its bootstrap 95% interval says how far to trust it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pruningbench.latency.engines import ENGINES, Runner, TimingSetup, timing_context

__all__ = [
    "BOOTSTRAP_SAMPLES",
    "Latency",
    "SpeedupMeasurement",
    "fastest_ms",
    "measure_engines",
    "measure_speedup",
    "time_pairs",
]

BOOTSTRAP_SAMPLES = 2000


@dataclass(frozen=True)
class Latency:
    """Median wall time of one forward pass of a fixed batch, and the throughput it implies."""

    median_ms: float
    throughput: float  # images per second
    batch_size: int
    device: str


@dataclass(frozen=True)
class SpeedupMeasurement:
    """The median of the per-pair ratios base time / pruned time with its bootstrap 95% interval, and each model's
    median time."""

    speedup: float
    low: float
    high: float
    base: Latency
    pruned: Latency

    @property
    def noisy(self) -> bool:
        """The interval is wider than ±10% of the speed-up: the figure is not to be trusted."""
        return (self.high - self.low) / 2 > 0.10 * self.speedup

    def as_dict(self) -> dict[str, float | str]:
        """The figures a record keeps for one engine and batch."""
        return {
            "base_ms": self.base.median_ms,
            "pruned_ms": self.pruned.median_ms,
            "speedup": self.speedup,
            "low": self.low,
            "high": self.high,
            "device": self.pruned.device,
        }


def fastest_ms(runner: Runner, warmup: int, repeats: int) -> float:
    """The fastest of ``repeats`` passes after ``warmup`` untimed ones, in ms: a neighbour only ever adds time, so
    the fastest pass is the one closest to the model's own cost (what the latency table keeps)."""
    for _ in range(warmup):
        runner()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        runner()
        times.append(time.perf_counter() - started)
    return 1000 * min(times)


def time_pairs(
    base: Runner, pruned: Runner, batch_size: int, device: str, warmup: int, repeats: int, seed: int = 0
) -> SpeedupMeasurement:
    """Time ``repeats`` pairs of ``base`` and ``pruned`` passes, alternating which goes first, after ``warmup``
    untimed passes of each."""

    def timed(runner: Runner) -> float:
        started = time.perf_counter()
        runner()
        return time.perf_counter() - started

    for _ in range(warmup):
        base(), pruned()
    pairs = []
    for index in range(repeats):
        if index % 2:
            pruned_time, base_time = timed(pruned), timed(base)
        else:
            base_time, pruned_time = timed(base), timed(pruned)
        pairs.append((base_time, pruned_time))
    times = np.array(pairs)
    ratios = times[:, 0] / times[:, 1]
    resampled = np.random.default_rng(seed).choice(ratios, size=(BOOTSTRAP_SAMPLES, len(ratios)), replace=True)
    low, high = np.percentile(np.median(resampled, axis=1), [2.5, 97.5])

    def latency(seconds: np.ndarray) -> Latency:
        median = float(np.median(seconds))
        return Latency(median_ms=1000 * median, throughput=batch_size / median, batch_size=batch_size, device=device)

    return SpeedupMeasurement(
        float(np.median(ratios)), float(low), float(high), latency(times[:, 0]), latency(times[:, 1])
    )


def measure_engines(
    base: nn.Module,
    pruned: nn.Module,
    input_shape: tuple[int, ...],
    engines: list[str],
    setup: TimingSetup,
    warmup: int,
    repeats: int,
    seed: int = 0,
    extra_batches: tuple[int, ...] = (),
) -> dict[str, SpeedupMeasurement]:
    """``base`` against ``pruned`` in every engine, at ``setup``'s batch and at each of ``extra_batches``; keyed
    ``"engine@batch"``, the first engine at the configured batch first."""
    setups = [setup] + [setup.with_batch(batch) for batch in extra_batches if batch != setup.batch_size]
    measured = {}
    for name in engines:
        engine = ENGINES.get(name)()
        with timing_context(setup):
            base_runners = engine.model_runners(base, input_shape, setups)
            pruned_runners = engine.model_runners(pruned, input_shape, setups)
            for each, base_runner, pruned_runner in zip(setups, base_runners, pruned_runners):
                figure = time_pairs(
                    base_runner, pruned_runner, each.batch_size, engine.device_name(each), warmup, repeats, seed
                )
                measured[f"{name}@{each.batch_size}"] = figure
    return measured


@torch.no_grad()
def measure_speedup(
    base: nn.Module,
    pruned: nn.Module,
    input_shape: tuple[int, ...],
    batch_size: int,
    warmup: int,
    repeats: int,
    seed: int = 0,
    threads: int | None = None,
    engine: str = "eager",
) -> SpeedupMeasurement:
    """One engine at one batch on the pruned model's device, with ``threads`` CPU threads (None: this process's)."""
    device = next(pruned.parameters()).device
    setup = TimingSetup(device, batch_size, threads=threads or torch.get_num_threads())
    return measure_engines(base, pruned, input_shape, [engine], setup, warmup, repeats, seed)[f"{engine}@{batch_size}"]
