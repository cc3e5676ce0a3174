"""Leaderboards: stored records grouped into boards per (task, scope, speed-up, track) and ranked as the paper does.

Tracks: ``criteria`` (importance criteria, no regularizer) and ``regularizer`` (regularizer + criterion pairings).
Within a board, rows are one method each (runs of several seeds are averaged) ranked by pruned metric, best first;
equal metrics share a rank.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from statistics import mean

from pruningbench.record import RunRecord

__all__ = ["Board", "Row", "build_boards", "render", "FORMATS", "COLUMNS"]

COLUMNS = ["Importance", "Regularizer", "Rank", "Base", "Prune", "ΔAcc", "Params", "Step Time", "Reg Time", "Speed-up", "Seeds"]
FORMATS = ("table", "markdown", "csv", "json")


@dataclass(frozen=True)
class Row:
    """One method on one board, averaged over its seeds."""

    importance: str
    regularizer: str | None
    rank: int
    base: float
    prune: float
    delta: float
    params_after: float
    params_share: float
    step_time: float
    reg_time: float | None
    achieved_speedup: float
    seeds: int

    def cells(self) -> list[str]:
        """The row as the paper prints it."""
        return [
            self.importance,
            self.regularizer or "N/A",
            str(self.rank),
            f"{self.base:.2f}",
            f"{self.prune:.2f}",
            f"{self.delta:+.2f}",
            f"{self.params_after / 1e6:.2f} M ({100 * self.params_share:.2f}%)",
            format_duration(self.step_time),
            "N/A" if self.reg_time is None else format_duration(self.reg_time),
            f"{self.achieved_speedup:.3f}x",
            str(self.seeds),
        ]


@dataclass(frozen=True)
class Board:
    """The ranked rows of one (task, scope, speed-up, track)."""

    task: str
    scope: str
    speedup: float
    track: str
    rows: list[Row]

    @property
    def title(self) -> str:
        return f"{self.task} · {self.speedup:g}x · {self.scope} · {self.track} track"


def format_duration(seconds: float) -> str:
    """``0.136s`` under a minute, ``2m51s`` above, like the paper's Step/Reg Time columns."""
    if seconds < 60:
        return f"{seconds:.3f}s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m{rest}s" if hours else f"{minutes}m{rest}s"


def _aggregate(importance: str, regularizer: str | None, runs: list[RunRecord]) -> Row:
    reg_times = [r.reg_time for r in runs if r.reg_time is not None]
    return Row(
        importance=importance,
        regularizer=regularizer,
        rank=0,
        base=mean(r.base_metric for r in runs),
        prune=mean(r.pruned_metric for r in runs),
        delta=mean(r.delta for r in runs),
        params_after=mean(r.params_after for r in runs),
        params_share=mean(r.params_share for r in runs),
        step_time=mean(r.step_time for r in runs),
        reg_time=mean(reg_times) if reg_times else None,
        achieved_speedup=mean(r.achieved_speedup for r in runs),
        seeds=len(runs),
    )


def _ranked(rows: list[Row]) -> list[Row]:
    ordered = sorted(rows, key=lambda row: (-round(row.prune, 6), row.importance, row.regularizer or ""))
    ranked: list[Row] = []
    for position, row in enumerate(ordered, start=1):
        tied = ranked and round(ranked[-1].prune, 6) == round(row.prune, 6)
        ranked.append(Row(**{**asdict(row), "rank": ranked[-1].rank if tied else position}))
    return ranked


def build_boards(records: list[RunRecord], task: str | None = None) -> list[Board]:
    """Group ``records`` into ranked boards (optionally of one task), in a stable order."""
    cells: dict[tuple, dict[tuple[str, str | None], list[RunRecord]]] = {}
    for record in records:
        if task is not None and record.task != task:
            continue
        track = "criteria" if record.regularizer is None else "regularizer"
        board_key = (record.task, record.scope, record.target_speedup, track)
        cells.setdefault(board_key, {}).setdefault((record.importance, record.regularizer), []).append(record)
    boards = []
    for (task_name, scope, speedup, track), methods in sorted(cells.items(), key=lambda item: _board_order(item[0])):
        rows = [_aggregate(importance, regularizer, runs) for (importance, regularizer), runs in methods.items()]
        boards.append(Board(task_name, scope, speedup, track, _ranked(rows)))
    return boards


def _board_order(key: tuple) -> tuple:
    task, scope, speedup, track = key
    return (task, scope, track, speedup)


def render(boards: list[Board], fmt: str) -> str:
    """Render boards as ``markdown``, ``csv`` or ``json`` text (``table`` is drawn by the CLI with rich)."""
    if fmt == "markdown":
        return "\n\n".join(_markdown(board) for board in boards)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["Task", "Scope", "Target", "Track", *COLUMNS])
        for board in boards:
            for row in board.rows:
                writer.writerow([board.task, board.scope, f"{board.speedup:g}x", board.track, *row.cells()])
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
