"""The base model's reference timing, cached per base model and timing setup (device, engine, batch, precision,
layout, threads).

Every run times its base beside its pruned model in interleaved pairs, and the speed-up is the median of the pair
ratios, which a busy neighbour barely moves. Absolute times are another matter: a run measured under load sees a
slower base and a slower pruned model alike. The cache keeps, per base model and setup, the fastest base median any
run has measured (a neighbour only ever adds time, so the fastest is the closest to the model's own cost); a run
reports it as the base's latency and ``reference / speed-up`` as the pruned model's. Every row of a board then shows
the same base latency, and absolute times that do not depend on what else the machine was doing; the run's own
medians stay in the record's ``latencies``. The file is shared by every process of a results directory (a lock
serialises updates).
"""

from __future__ import annotations

import fcntl
import logging
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from pruningbench.latency.pairs import SpeedupMeasurement
from pruningbench.latency.table import read_entries, write_entries

__all__ = ["LOADED", "BaseTimings", "machine_name"]

log = logging.getLogger(__name__)

LOADED = 1.25  # a run's base median this far above the reference was measured under load (logged)


class BaseTimings:
    """Reference base-model times (ms) in ``folder``, keyed by base model, machine and timing setup."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "base_timings.json"

    def references(self, base_key: str, measured: dict[str, SpeedupMeasurement]) -> dict[str, float]:
        """The reference base time of every ``"engine@batch"`` measurement of the base model ``base_key``."""
        return {
            key: self.reference(f"{base_key} on {machine_name()}, {figure.base.device}, {key}", figure.base.median_ms)
            for key, figure in measured.items()
        }

    def reference(self, key: str, measured_ms: float) -> float:
        """The reference time for ``key``: the fastest of the one stored and ``measured_ms`` (which is kept if it is
        the faster, for the runs that follow)."""
        with self._locked():
            entries = read_entries(self.path)
            reference = min(entries.get(key, measured_ms), measured_ms)
            if entries.get(key) != reference:
                write_entries(self.path, {**entries, key: reference})
        if measured_ms > LOADED * reference:
            log.warning(
                "the base model ran %.2fx slower than its reference (%s): the machine was busy; the paired speed-up "
                "holds, and absolute times are taken from the reference",
                measured_ms / reference,
                key,
            )
        return reference

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


@cache
def machine_name() -> str:
    """The CPU model (a setup's device name says "cpu (N threads)", which two kinds of machine sharing a results
    directory would have in common)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
