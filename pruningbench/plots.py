"""Figures of the report (matplotlib, written as PNG files a user can open).

1. remaining channels per layer for each criterion at one speed-up (the paper's parameter curves);
2. accuracy versus speed-up per method (the paper's Fig. 3);
3. accuracy versus remaining parameters, and step time per criterion;
4. the critical-difference diagram of a track's average ranks (Demšar 2006).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import mean

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from pruningbench.leaderboard import TrackSummary, method_label  # noqa: E402
from pruningbench.record import RunRecord  # noqa: E402

__all__ = ["accuracy_vs_params", "accuracy_vs_speedup", "channel_profile", "critical_difference", "step_times"]


@contextmanager
def _figure(path: Path, width: float = 7.0, height: float = 4.2) -> Iterator[Figure]:
    figure = plt.figure(figsize=(width, height), dpi=110)
    try:
        yield figure
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    finally:
        plt.close(figure)


def channel_profile(records: list[RunRecord], title: str, path: Path) -> Path:
    """Share of each layer's channels kept, per criterion (one run per criterion: the lowest seed)."""
    first: dict[str, RunRecord] = {}
    for record in sorted(records, key=lambda r: r.seed):
        first.setdefault(record.importance, record)
    with _figure(path, width=9.0) as figure:
        axes = figure.add_subplot()
        for importance, record in sorted(first.items()):
            layers = [name for name in record.channels_before if name in record.channels_after]
            kept = [record.channels_after[name] / record.channels_before[name] for name in layers]
            axes.plot(range(len(layers)), kept, marker=".", linewidth=1, label=importance)
        axes.set(title=title, xlabel="layer (forward order of definition)", ylabel="channels kept", ylim=(0, 1.05))
        axes.legend(fontsize=7, ncol=2)
    return path


def _by_method(records: list[RunRecord]) -> list[tuple[str, list[RunRecord]]]:
    groups: dict[str, list[RunRecord]] = defaultdict(list)
    for record in records:
        groups[method_label(record)].append(record)
    return sorted(groups.items())


def accuracy_vs_speedup(records: list[RunRecord], title: str, path: Path) -> Path:
    """Mean pruned metric against target speed-up, one line per method, base metric at 1x."""
    base = mean(record.base_metric for record in records)
    with _figure(path) as figure:
        axes = figure.add_subplot()
        for label, runs in _by_method(records):
            speedups = sorted({r.target_speedup for r in runs})
            means = [mean(r.pruned_metric for r in runs if r.target_speedup == s) for s in speedups]
            axes.plot([1.0, *speedups], [base, *means], marker="o", label=label)
        axes.set_xscale("log", base=2)
        axes.set(title=title, xlabel="speed-up (MACs ratio)", ylabel=records[0].metric)
        axes.legend(fontsize=7, ncol=2)
    return path


def accuracy_vs_params(records: list[RunRecord], title: str, path: Path) -> Path:
    """Pruned metric against remaining parameters, every run a point, coloured by method."""
    with _figure(path) as figure:
        axes = figure.add_subplot()
        for label, runs in _by_method(records):
            axes.scatter([r.params_after / 1e6 for r in runs], [r.pruned_metric for r in runs], label=label, s=18)
        axes.set(title=title, xlabel="remaining parameters (M)", ylabel=records[0].metric)
        axes.legend(fontsize=7, ncol=2)
    return path


def step_times(records: list[RunRecord], title: str, path: Path) -> Path:
    """Mean importance-computation time per criterion (log scale), slowest first."""
    by_criterion: dict[str, list[float]] = defaultdict(list)
    for record in records:
        by_criterion[record.importance].append(record.step_time)
    ordered = sorted(by_criterion.items(), key=lambda item: -mean(item[1]))
    with _figure(path) as figure:
        axes = figure.add_subplot()
        axes.barh([name for name, _ in ordered], [max(mean(times), 1e-6) for _, times in ordered])
        axes.set_xscale("log")
        axes.invert_yaxis()
        axes.set(title=title, xlabel="step time (s, log scale)")
    return path


def critical_difference(summary: TrackSummary, path: Path) -> Path:
    """Average ranks on a line (best at the left); bars join methods whose ranks differ by less than the CD."""
    ordered = sorted(zip(summary.mean_ranks, summary.methods))
    k = len(ordered)
    with _figure(path, width=8.0, height=1.6 + 0.22 * k) as figure:
        axes = figure.add_subplot()
        axes.set_xlim(0.5, k + 0.5)
        axes.set_ylim(-(0.8 * k + 0.6), 2.2)
        axes.axis("off")
        axes.hlines(0, 1, k, color="black")
        for tick in range(1, k + 1):
            axes.vlines(tick, 0, 0.2, color="black")
            axes.text(tick, 0.35, str(tick), ha="center", fontsize=8)
        axes.hlines(1.4, 1, 1 + summary.critical_difference, color="tab:red", linewidth=2)
        axes.text(1 + summary.critical_difference / 2, 1.6, f"CD = {summary.critical_difference:.2f}", ha="center",
                  fontsize=8, color="tab:red")
        for row, (rank, label) in enumerate(ordered):
            y = -(row + 1) * 0.8
            axes.plot([rank, rank], [0, y], color="gray", linewidth=0.8)
            axes.text(rank + 0.05, y, f"{label} ({rank:.2f})", fontsize=7, va="center")
        for bar, (start, end) in enumerate(_cliques([rank for rank, _ in ordered], summary.critical_difference)):
            axes.hlines(-0.25 - 0.18 * bar, start - 0.05, end + 0.05, color="black", linewidth=3)
        axes.set_title(summary.title, fontsize=9)
    return path


def _cliques(ranks: list[float], cd: float) -> list[tuple[float, float]]:
    """Maximal runs of sorted ranks spanning less than ``cd`` (the groups not significantly different)."""
    spans = []
    for i in range(len(ranks)):
        j = max(j for j in range(i, len(ranks)) if ranks[j] - ranks[i] < cd)
        if j > i and not any(s <= ranks[i] and ranks[j] <= e for s, e in spans):
            spans.append((ranks[i], ranks[j]))
    return spans
