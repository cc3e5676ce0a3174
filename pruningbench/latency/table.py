"""Latency-targeted pruning's cost model: a per-layer latency table and the model latency it predicts (HALP-style).

As in HALP (Shen et al., NeurIPS 2022) and NetAdapt, every conv/linear layer is timed on its own along the widths the
search can visit, keyed by its kind, hyper-parameters, input size, widths, batch, precision and layout, on one device
in one engine; the table is a JSON file in the results directory, shared by every run on that device. A pruned model's
latency is predicted as the layers' latencies at their kept widths (bilinear between the measured widths: exact for
a cost linear in each width, as MACs are) plus the rest of the model (normalisation, activations, additions, pooling),
which is the dense model's measured latency minus its layers': a fixed part (per-operator overheads) and a part that
shrinks with the activations the layers produce, split so that the smallest reachable model is predicted exactly.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from pruningbench.latency.engines import Engine, LayerSpec, TimingSetup, timing_context
from pruningbench.latency.pairs import fastest_ms

if TYPE_CHECKING:
    from pruningbench.pipeline.cost import MacsModel

__all__ = ["GRID", "LatencyModel", "LatencyTable", "grid_widths", "read_entries", "write_entries"]

GRID = (0.125, 0.25, 0.5, 0.75, 1.0)  # shares of a layer's width measured (rounded to the search's unit)


def read_entries(path: Path) -> dict[str, float]:
    """A JSON cache of named times; empty when there is none yet or it is unreadable (measured again)."""
    try:
        return {str(key): float(value) for key, value in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def write_entries(path: Path, entries: dict[str, float]) -> None:
    """Write a JSON cache of named times by an atomic replace: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(entries, indent=0, sort_keys=True))
    os.replace(temporary, path)


def grid_widths(full: int, step: int, prunable: bool = True) -> list[int]:
    """The widths measured for a dimension of ``full`` channels that the search shrinks in multiples of ``step``: the
    shares in :data:`GRID` and the smallest width a group can keep, so no width the search visits is extrapolated."""
    if not prunable:
        return [full]
    return sorted({min(full, max(step, round(full * share / step) * step)) for share in GRID} | {min(step, full), full})


class LatencyTable:
    """Measured per-layer latencies (ms) on one device in one engine, cached in ``folder``."""

    def __init__(self, folder: Path, engine: Engine, setup: TimingSetup, warmup: int = 2, repeats: int = 5) -> None:
        self.engine, self.setup, self.warmup, self.repeats = engine, setup, warmup, repeats
        slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{engine.name} {engine.device_name(setup)}").strip("-").lower()
        self.path = folder / f"{slug}.json"
        self.entries: dict[str, float] = read_entries(self.path)
        self.measured = 0  # entries measured by this table (the rest came from the cache)

    def layer_ms(self, spec: LayerSpec, in_width: int, out_width: int) -> float:
        """Latency of ``spec`` at these widths (the fastest of ``repeats`` passes), measured once per device and kept."""
        key = f"{spec.key} batch={self.setup.batch_size} widths={in_width}x{out_width}"
        if key not in self.entries:
            with timing_context(self.setup):
                run = self.engine.layer_runner(spec, in_width, out_width, self.setup)
                self.entries[key] = fastest_ms(run, self.warmup, self.repeats)
            self.measured += 1
        return self.entries[key]

    def save(self) -> None:
        """Write the table, keeping what other processes added meanwhile."""
        write_entries(self.path, {**read_entries(self.path), **self.entries})


class LatencyModel:
    """Predicts the latency (ms) left after removing any set of group units, from a :class:`LatencyTable`.

    Takes the layers and the unit → layer-dimension maps of a :class:`~pruningbench.pipeline.prune.MacsModel`; the
    same interface (``total``, ``offsets``, ``cost``), so the search does not know which of the two it aims with.
    """

    def __init__(self, macs: MacsModel, table: LatencyTable, measured_ms: float, step: int) -> None:
        self.offsets, self.in_map, self.out_map = macs.offsets, macs.in_map, macs.out_map
        self.in_total, self.out_total, self.depthwise = macs.in_total, macs.out_total, macs.depthwise
        self.grids: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for index, (layer, shape) in enumerate(zip(macs.layers, macs.input_shapes)):
            spec = LayerSpec.of(layer, shape)
            depthwise = bool(self.depthwise[index])
            ins = grid_widths(int(self.in_total[index]), step, bool(self.in_map[index].any()))
            outs = grid_widths(int(self.out_total[index]), step, bool(self.out_map[index].any()))
            if depthwise:  # one width: in = out
                ins = outs
                values = [[table.layer_ms(spec, width, width) for width in outs]]
                self.grids.append((torch.tensor([0.0]), torch.tensor(outs, dtype=torch.float64), torch.tensor(values)))
                continue
            values = [[table.layer_ms(spec, i, o) for o in outs] for i in ins]
            grid = (torch.tensor(ins, dtype=torch.float64), torch.tensor(outs, dtype=torch.float64))
            self.grids.append((*grid, torch.tensor(values, dtype=torch.float64)))
        table.save()
        self.spatial = macs.out_spatial.double()
        self.activations = float((self.out_total.double() * self.spatial).sum())
        self.layers_ms = self._layers_ms(self.in_total.double(), self.out_total.double())
        self.fixed, self.scaled = 0.0, max(measured_ms - self.layers_ms, 0.0)  # the rest: all of it shrinks, until fit
        self.total = self.layers_ms + self.scaled  # the measured latency, unless the layers alone took longer

    def fit_rest(self, removed: torch.Tensor, measured_ms: float) -> None:
        """Split the rest into a fixed part (per-operator overheads, which no pruning removes) and a part that shrinks
        with the activations, so that the prediction also equals ``measured_ms``, the measured latency of the model
        with ``removed`` gone (the smallest model the search can reach is the most telling)."""
        rest = self.total - self.layers_ms
        share = self._activation_share(removed)
        left = measured_ms - self._layers_ms(*self._kept(removed))  # the rest of the reduced model
        scaled = min(max((rest - left) / (1.0 - share), 0.0), rest) if share < 1.0 else rest
        self.fixed, self.scaled = rest - scaled, scaled

    def cost(self, removed: torch.Tensor) -> float:
        """Predicted latency after removing the units flagged in ``removed`` (all groups' units concatenated)."""
        return self._layers_ms(*self._kept(removed)) + self.fixed + self.scaled * self._activation_share(removed)

    def _kept(self, removed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flags = removed.double()
        return (
            self.in_total.double() - self.in_map.double() @ flags,
            self.out_total.double() - self.out_map.double() @ flags,
        )

    def _activation_share(self, removed: torch.Tensor) -> float:
        return float((self._kept(removed)[1] * self.spatial).sum()) / self.activations

    def _layers_ms(self, in_kept: torch.Tensor, out_kept: torch.Tensor) -> float:
        total = 0.0
        for index, (ins, outs, values) in enumerate(self.grids):
            x = 0.0 if bool(self.depthwise[index]) else float(in_kept[index])
            total += _bilinear(ins, outs, values, x, float(out_kept[index]))
        return total


def _bracket(grid: torch.Tensor, value: float) -> tuple[int, int, float]:
    """Indices of the grid points around ``value`` and its share of the way between them (clamped to the grid)."""
    if len(grid) == 1:
        return 0, 0, 0.0
    upper = int(torch.searchsorted(grid, torch.tensor(value, dtype=grid.dtype)).clamp(1, len(grid) - 1))
    low, high = float(grid[upper - 1]), float(grid[upper])
    return upper - 1, upper, min(max((value - low) / (high - low), 0.0), 1.0)


def _bilinear(xs: torch.Tensor, ys: torch.Tensor, values: torch.Tensor, x: float, y: float) -> float:
    i0, i1, tx = _bracket(xs, x)
    j0, j1, ty = _bracket(ys, y)
    top = (1 - ty) * values[i0, j0] + ty * values[i0, j1]
    bottom = (1 - ty) * values[i1, j0] + ty * values[i1, j1]
    return float((1 - tx) * top + tx * bottom)
