"""Leaderboards: stored records grouped into boards per (task, scope, speed-up, track) and ranked as the paper does.

Tracks: ``criteria`` (importance criteria, no regularizer) and ``regularizer`` (regularizer + criterion pairings).
Within a board, rows are one method each (runs of several seeds are averaged) ranked by pruned metric, best first;
equal metrics share a rank. With several seeds ΔAcc carries its 95% confidence interval, and the rank shows the
range of ranks the method cannot be told apart from (overlapping intervals), e.g. ``2-4``, instead of a strict order.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from statistics import mean

import numpy as np

from pruningbench.config import PruneConfig
from pruningbench.record import RunRecord
from pruningbench.stats import FriedmanResult, average_ranks, friedman, indistinguishable_ranges, mean_ci, nemenyi_cd

__all__ = [
    "Board", "Row", "TrackSummary", "COLUMN_FIELDS", "provenance", "build_boards", "method_label", "prune_setting", "render", "shown_names", "summarize_tracks", "FORMATS",
    "COLUMNS",
]

COLUMNS = [
    "Importance", "Regularizer", "Rank", "Base", "Prune", "ΔAcc", "Params", "Step Time", "Reg Time", "Speed-up",
    "Latency", "Throughput", "Seeds",
]
# The Row attribute each column shows (what a sortable view sorts by).
COLUMN_FIELDS = dict(zip(COLUMNS, (
    "importance", "regularizer", "rank", "base", "prune", "delta", "params_after", "step_time", "reg_time",
    "achieved_speedup", "latency_ms", "throughput", "seeds",
), strict=True))
FORMATS = ("table", "markdown", "csv", "json")


@dataclass(frozen=True)
class Row:
    """One method on one board, averaged over its seeds."""

    importance: str
    regularizer: str | None
    rank: int
    rank_range: tuple[int, int]  # ranks this method is statistically indistinguishable from (itself alone: equal)
    base: float
    prune: float
    delta: float
    delta_ci: float | None  # 95% CI half-width of ΔAcc over seeds; None with one seed
    params_after: float
    params_share: float
    step_time: float
    reg_time: float | None
    achieved_speedup: float
    latency_ms: float | None  # pruned model, batch latency (the base reference / the measured speed-up)
    latency_speedup: float | None  # base latency / pruned latency, same device (interleaved pairs' median ratio)
    throughput: float | None  # pruned model, images per second
    seeds: int
    run_ids: tuple[str, ...] = ()  # the runs averaged here
    submitter: str | None = None  # runs submitted by someone are their own row, never pooled with runs made here
    latency_ci: tuple[float, float] | None = None  # the measured speed-up's 95% interval (one run)
    latency_noisy: bool = False  # some run's interval is wider than ±10%: measured on a busy machine
    provenance: tuple[str, ...] = ()  # where they came from: "run here", "submitted by NAME (verified)", ...

    @property
    def label(self) -> str:
        method = self.importance if self.regularizer is None else f"{self.importance}+{self.regularizer}"
        return method if self.submitter is None else f"{method} [submitted by {self.submitter}]"

    def cells(self) -> list[str]:
        """The row as the paper prints it."""
        return [
            self.importance if self.submitter is None else f"{self.importance} [submitted by {self.submitter}]",
            self.regularizer or "N/A",
            self.rank_label,
            f"{self.base:.2f}",
            f"{self.prune:.2f}",
            f"{self.delta:+.2f}" + ("" if self.delta_ci is None else f" ± {self.delta_ci:.2f}"),
            f"{self.params_after / 1e6:.2f} M ({100 * self.params_share:.2f}%)",
            format_duration(self.step_time),
            "N/A" if self.reg_time is None else format_duration(self.reg_time),
            f"{self.achieved_speedup:.3f}x",
            "N/A" if self.latency_ms is None else f"{self.latency_ms:.2f} ms ({self.latency_speedup_text})",
            "N/A" if self.throughput is None else f"{self.throughput:,.0f} img/s",
            str(self.seeds),
        ]

    @property
    def latency_speedup_text(self) -> str:
        """``1.26x``, with its interval ``[1.20-1.31]`` when known, flagged ``noisy`` when wider than ±10%."""
        text = f"{self.latency_speedup:.2f}x"
        if self.latency_ci is not None:
            text += f" [{self.latency_ci[0]:.2f}-{self.latency_ci[1]:.2f}]"
        return text + (" noisy" if self.latency_noisy else "")

    @property
    def rank_label(self) -> str:
        """``3``, or ``2-4`` when the intervals do not separate this method from those ranks."""
        low, high = self.rank_range
        return str(self.rank) if low == high else f"{low}-{high}"


@dataclass(frozen=True)
class Board:
    """The ranked rows of one (task, scope, speed-up, track, setting)."""

    task: str
    scope: str
    speedup: float
    track: str
    rows: list[Row]
    setting: str = ""  # non-default prune settings shared by the board's runs, e.g. "attention=heads"

    @property
    def title(self) -> str:
        setting = f" · {self.setting}" if self.setting else ""
        return f"{self.task} · {self.speedup:g}x · {self.scope}{setting} · {self.track} track"


SETTINGS = ("protected_share", "reconstruct", "attention", "round_to")  # prune settings that change the protocol, not the method


def prune_setting(record: RunRecord) -> str:
    """The run's non-default prune settings besides target and scope (``protected_share`` only where the scope uses
    it): runs that differ in them follow different protocols and are never pooled on one board."""
    prune = record.config.get("prune", {})
    names = [n for n in SETTINGS if n != "protected_share" or record.scope == "protected_global"]
    return ", ".join(
        f"{name}={prune[name]}" for name in names if prune.get(name, PruneConfig.model_fields[name].default)
        != PruneConfig.model_fields[name].default
    )


def method_label(record: RunRecord) -> str:
    """``Importance`` or ``Importance+Regularizer``: one method of the benchmark (``[submitted by NAME]`` added for
    submitted runs, which are shown apart from the runs made here)."""
    importance, regularizer = shown_names(record)
    method = importance if regularizer is None else f"{importance}+{regularizer}"
    return method if record.origin != "submitted" else f"{method} [submitted by {record.submitted_by}]"


def shown_names(record: RunRecord) -> tuple[str, str | None]:
    """The record's criterion and regularizer as the boards name them: a plug-in's with where it comes from, e.g.
    ``MyL1 (my-plugin 0.2)``, so two versions of a plug-in method are two rows, never one."""

    def shown(kind: str, name: str | None) -> str | None:
        origin = None if name is None else record.versions.get(f"plugin {kind} {name}")
        return name if origin is None else f"{name} ({origin})"

    importance = shown("criterion", record.importance)
    assert importance is not None
    return importance, shown("regularizer", record.regularizer)


def format_duration(seconds: float) -> str:
    """``0.136s`` under a minute, ``2m51s`` above, like the paper's Step/Reg Time columns."""
    if seconds < 60:
        return f"{seconds:.3f}s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m{rest}s" if hours else f"{minutes}m{rest}s"


def _mean_or_none(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return mean(present) if present else None


def _aggregate(
    importance: str, regularizer: str | None, submitter: str | None, runs: list[RunRecord], local_keys: set[str]
) -> Row:
    delta, delta_ci = mean_ci([r.delta for r in runs])
    return Row(
        importance=importance,
        regularizer=regularizer,
        rank=0,
        rank_range=(0, 0),
        base=mean(r.base_metric for r in runs),
        prune=mean(r.pruned_metric for r in runs),
        delta=delta,
        delta_ci=delta_ci,
        params_after=mean(r.params_after for r in runs),
        params_share=mean(r.params_share for r in runs),
        step_time=mean(r.step_time for r in runs),
        reg_time=_mean_or_none([r.reg_time for r in runs]),
        achieved_speedup=mean(r.achieved_speedup for r in runs),
        latency_ms=_mean_or_none([r.latency_ms for r in runs]),
        latency_speedup=_mean_or_none([r.latency_speedup for r in runs]),
        throughput=_mean_or_none([r.throughput for r in runs]),
        seeds=len(runs),
        run_ids=tuple(r.run_id for r in runs),
        provenance=tuple(sorted({provenance(r, local_keys) for r in runs})),
        submitter=submitter,
        latency_ci=runs[0].latency_ratio_ci if len(runs) == 1 else None,
        latency_noisy=any(r.latency_noisy for r in runs),
    )


def provenance(record: RunRecord, local_keys: set[str] | None = None) -> str:
    """Where a run's numbers come from: run by this installation, or submitted (by whom), what the server could
    confirm of it, and whether it has been reproduced here (a run made here with the same config is stored among
    ``local_keys``)."""
    if record.origin != "submitted":
        return record.origin
    checks = record.verification or {}
    status = checks.get("status", "unverified")
    if local_keys is not None and checks.get("original_run_key") in local_keys:
        status += ", reproduced here"
    return f"submitted by {record.submitted_by or 'unknown'} ({status})"


def _ranked(rows: list[Row]) -> list[Row]:
    """Rows best first; equal pruned metrics share a rank; ranges from ΔAcc intervals (same base on a board)."""
    ordered = sorted(
        rows, key=lambda row: (-round(row.prune, 6), row.importance, row.regularizer or "", row.submitter or "")
    )
    ranges = indistinguishable_ranges([row.delta for row in ordered], [row.delta_ci for row in ordered])
    ranks: list[int] = []
    for position, row in enumerate(ordered, start=1):
        tied = ranks and round(ordered[position - 2].prune, 6) == round(row.prune, 6)
        ranks.append(ranks[-1] if tied else position)
    ranked = []
    for row, rank, (low, high) in zip(ordered, ranks, ranges):
        shared = {ranks[i] for i in range(low - 1, high)}
        span = (rank, rank) if shared == {rank} else (min(ranks[low - 1], rank), high)
        ranked.append(Row(**{**asdict(row), "rank": rank, "rank_range": span}))
    return ranked


def build_boards(records: list[RunRecord], task: str | None = None) -> list[Board]:
    """Group ``records`` into ranked boards (optionally of one task), in a stable order."""
    cells: dict[tuple, dict[tuple[str, str | None, str | None], list[RunRecord]]] = {}
    local_keys = {record.run_key for record in records if record.origin != "submitted"}
    for record in records:
        if task is not None and record.task != task:
            continue
        track = "criteria" if record.regularizer is None else "regularizer"
        board_key = (record.task, record.scope, record.target_speedup, track, prune_setting(record))
        submitter = record.submitted_by if record.origin == "submitted" else None
        cells.setdefault(board_key, {}).setdefault((*shown_names(record), submitter), []).append(record)
    boards = []
    for (task_name, scope, speedup, track, setting), methods in sorted(
        cells.items(), key=lambda item: _board_order(item[0])
    ):
        rows = [_aggregate(*method, runs, local_keys) for method, runs in methods.items()]
        boards.append(Board(task_name, scope, speedup, track, _ranked(rows), setting))
    return boards


def _board_order(key: tuple) -> tuple:
    task, scope, speedup, track, setting = key
    return (task, scope, setting, track, speedup)


@dataclass(frozen=True)
class TrackSummary:
    """Average rank of every method over all boards of one track, with the Friedman test and the Nemenyi CD."""

    track: str
    methods: list[str]
    mean_ranks: list[float]
    boards: int
    friedman: FriedmanResult
    critical_difference: float

    @property
    def title(self) -> str:
        return (
            f"{self.track} track: average ranks over {self.boards} boards; Friedman p = {self.friedman.p_value:.3g}, "
            f"Nemenyi CD (α = 0.05) = {self.critical_difference:.2f}"
        )


def summarize_tracks(boards: list[Board]) -> list[TrackSummary]:
    """Per track, ranks of the methods present on every board of it (complete blocks, as the Friedman test needs);
    a track needs at least two boards and two such methods."""
    summaries = []
    for track in sorted({board.track for board in boards}):
        track_boards = [board for board in boards if board.track == track]
        common = set.intersection(*({row.label for row in board.rows} for board in track_boards))
        methods = sorted(common)
        if len(track_boards) < 2 or len(methods) < 2:
            continue
        scores = np.array([[next(r.prune for r in board.rows if r.label == m) for m in methods] for board in track_boards])
        ranks = average_ranks(scores)
        summaries.append(TrackSummary(
            track=track,
            methods=methods,
            mean_ranks=[float(rank) for rank in ranks],
            boards=len(track_boards),
            friedman=friedman(ranks, len(track_boards)),
            critical_difference=nemenyi_cd(len(methods), len(track_boards)),
        ))
    return summaries


def render(boards: list[Board], fmt: str) -> str:
    """Render boards as ``markdown``, ``csv`` or ``json`` text (``table`` is drawn by the CLI with rich)."""
    if fmt == "markdown":
        return "\n\n".join(_markdown(board) for board in boards)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["Task", "Scope", "Setting", "Target", "Track", *COLUMNS])
        for board in boards:
            for row in board.rows:
                writer.writerow(
                    [board.task, board.scope, board.setting, f"{board.speedup:g}x", board.track, *row.cells()]
                )
        return buffer.getvalue()
    if fmt == "json":
        return json.dumps(
            [{**asdict(board), "title": board.title} for board in boards], indent=2, ensure_ascii=False
        )
    raise ValueError(f"unknown format {fmt!r}")


def _markdown(board: Board) -> str:
    lines = [f"### {board.title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in board.rows]
    return "\n".join(lines)
