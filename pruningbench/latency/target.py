"""Pruning to a measured latency speed-up: importance decides which channels go, latency decides how many (HALP).

The search aims with the latency table's prediction (:class:`~pruningbench.latency.table.LatencyModel`) instead of
MACs. The plan is then checked the way the run will be judged: a pruned copy is timed against the dense model in
interleaved pairs. A table summed layer by layer misses what only the whole model shows (fused kernels, memory
traffic between layers), so when the measured speed-up misses the target by more than :data:`SETTLE` the aim is
re-aimed and the plan redone, at most :data:`CORRECTIONS` times (rescaled by target / measured, then between the
closest plans measured below and above the target); the plan measured closest to the target is kept, and the record
reports its predicted and its measured speed-up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from pruningbench.config import PruneConfig
from pruningbench.errors import UserError
from pruningbench.latency.engines import ENGINES, TimingSetup, timing_context
from pruningbench.latency.pairs import fastest_ms, time_pairs
from pruningbench.latency.table import LatencyModel, LatencyTable

if TYPE_CHECKING:
    from pruningbench.pipeline.cost import MacsModel
    from pruningbench.pipeline.group import ChannelGroup

__all__ = ["CORRECTIONS", "SETTLE", "LatencyAim"]

log = logging.getLogger(__name__)

SETTLE = 0.02  # a plan measured within ±2% of the target is kept at once
CORRECTIONS = 3  # re-aimed plans after the first


@dataclass(frozen=True)
class Candidate:
    """One plan tried: the speed-up it aimed at (in predicted terms), its units, predicted and measured speed-up."""

    aim: float
    units: list[torch.Tensor]
    predicted: float
    measured: float


def _next_aim(tried: list[Candidate], target: float) -> float:
    """The next predicted speed-up to aim at: between the closest plans measured below and above the target (linear
    in between: measured speed-up grows with the aim, but faster than in proportion), or, while all fell on one side,
    the last aim rescaled by target / measured."""
    below = [c for c in tried if c.measured < target]
    above = [c for c in tried if c.measured > target]
    if below and above:
        low, high = max(below, key=lambda c: c.measured), min(above, key=lambda c: c.measured)
        share = (target - low.measured) / (high.measured - low.measured)
        return low.aim + share * (high.aim - low.aim)
    last = tried[-1]
    return max(last.aim * target / last.measured, 1.0 + 1e-6)


@dataclass(frozen=True)
class LatencyAim:
    """Where and how the latency target is measured: one engine on one device, the run's timing settings."""

    engine: str
    setup: TimingSetup
    table_dir: Path
    warmup: int
    repeats: int
    seed: int = 0

    def plan(
        self,
        model: nn.Module,
        example: torch.Tensor,
        groups: list[ChannelGroup],
        scores: list[torch.Tensor],
        macs: MacsModel,
        config: PruneConfig,
        normalized: bool,
    ) -> tuple[list[torch.Tensor], float]:
        """The units to remove from each group for ``config.speedup`` x less measured latency, and the speed-up the
        table predicted for them."""
        from pruningbench.pipeline.prune import channels_of, plan_removal, pruned_copy, removal_order

        engine = ENGINES.get(self.engine)()
        input_shape = tuple(example.shape[1:])

        def prepared(flags: torch.Tensor) -> nn.Module:
            units = [torch.nonzero(flags[start:end]).squeeze(1) for start, end in zip(cost.offsets, cost.offsets[1:])]
            return pruned_copy(model, example, config, channels_of(groups, units))

        with timing_context(self.setup):
            (base,) = engine.model_runners(model, input_shape, [self.setup])
            base_ms = fastest_ms(base, self.warmup, self.repeats)
        table = LatencyTable(self.table_dir, engine, self.setup)
        cost = LatencyModel(macs, table, base_ms, config.round_to)
        log.info(
            "latency table: %d layer widths measured, %d cached (%s)",
            table.measured,
            len(table.entries) - table.measured,
            table.path.name,
        )
        smallest = torch.zeros(cost.offsets[-1], dtype=torch.bool)
        smallest[torch.cat(removal_order(scores, config, normalized) or [torch.zeros(0, dtype=torch.long)])] = True
        with timing_context(self.setup):
            (runner,) = engine.model_runners(prepared(smallest), input_shape, [self.setup])
            cost.fit_rest(smallest, fastest_ms(runner, self.warmup, self.repeats))
        target, aim, tried = config.speedup, config.speedup, []
        for _ in range(1 + CORRECTIONS):
            try:
                units = plan_removal(scores, cost, config, normalized, target=aim)
            except UserError:
                if not tried:
                    raise
                break
            flags = torch.zeros(cost.offsets[-1], dtype=torch.bool)
            for offset, chosen in zip(cost.offsets, units):
                flags[offset + chosen] = True
            pruned = prepared(flags)
            with timing_context(self.setup):
                (runner,) = engine.model_runners(pruned, input_shape, [self.setup])
                measured = time_pairs(base, runner, self.setup.batch_size, "", self.warmup, self.repeats, self.seed)
            candidate = Candidate(aim, units, cost.total / cost.cost(flags), measured.speedup)
            log.info(
                "latency target %gx: aimed %.3fx, predicted %.3fx, measured %.3fx",
                target,
                aim,
                candidate.predicted,
                candidate.measured,
            )
            tried.append(candidate)
            if abs(candidate.measured / target - 1) <= SETTLE:
                break
            aim = _next_aim(tried, target)
        best = min(tried, key=lambda candidate: abs(candidate.measured / target - 1))
        return best.units, best.predicted
