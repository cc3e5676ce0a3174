"""Measured speed: engines, interleaved pair timing, and the per-layer latency table for latency-targeted pruning."""

from pruningbench.latency.engines import ENGINES, LayerSpec, TimingSetup
from pruningbench.latency.pairs import Latency, SpeedupMeasurement, measure_engines, measure_speedup

__all__ = ["ENGINES", "Latency", "LayerSpec", "SpeedupMeasurement", "TimingSetup", "measure_engines", "measure_speedup"]
