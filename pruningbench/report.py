"""``pruningbench report``: one self-contained HTML file (boards, cross-board statistics, figures embedded) plus
Markdown/CSV/JSON exports of the boards and the figures as PNG files, all in one output directory."""

from __future__ import annotations

import base64
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from pruningbench import plots
from pruningbench.leaderboard import COLUMNS, TrackSummary, build_boards, prune_setting, render, summarize_tracks
from pruningbench.record import RunRecord

__all__ = ["Figure", "write_report"]

REPORT_FILE = "report.html"


@dataclass(frozen=True)
class Figure:
    """One figure file and how the report captions it."""

    path: Path
    caption: str

    @property
    def data(self) -> str:
        return base64.b64encode(self.path.read_bytes()).decode()


def write_report(records: list[RunRecord], out_dir: Path, store_url: str = "") -> Path:
    """Write the report of ``records`` into ``out_dir``; the path of the HTML file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    boards = build_boards(records)
    for fmt, suffix in (("markdown", "md"), ("csv", "csv"), ("json", "json")):
        (out_dir / f"leaderboards.{suffix}").write_text(render(boards, fmt) + "\n")
    summaries = summarize_tracks(boards)
    figures = _figures(records, summaries, out_dir / "figures")
    environment = Environment(loader=PackageLoader("pruningbench", "templates"), autoescape=select_autoescape())
    html = environment.get_template("report.html.j2").render(
        boards=boards,
        columns=COLUMNS,
        summaries=[_Ranked(s) for s in summaries],
        figures=figures,
        runs=len(records),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        store=store_url,
        devices=", ".join(sorted({r.latency_device for r in records if r.latency_device})) or "the run's device",
    )
    path = out_dir / REPORT_FILE
    path.write_text(html)
    return path


class _Ranked:
    """A track summary with its methods in rank order, for the template."""

    def __init__(self, summary: TrackSummary) -> None:
        self.title = summary.title
        self.ranked = sorted(zip(summary.methods, summary.mean_ranks), key=lambda item: item[1])


def _figures(records: list[RunRecord], summaries: list[TrackSummary], folder: Path) -> list[Figure]:
    """Every figure of the report, one set per (task, scope, non-default prune setting), as the boards are split."""
    by_board: dict[tuple[str, str, str], list[RunRecord]] = defaultdict(list)
    for record in records:
        by_board[(record.task, record.scope, prune_setting(record))].append(record)
    figures = []
    for index, ((task, board_scope, setting), runs) in enumerate(sorted(by_board.items())):
        stem = f"{index:02d}-{_slug(task)}-{board_scope}" + (f"-{_slug(setting)}" if setting else "")
        scope = board_scope + (f" · {setting}" if setting else "")
        criteria_runs = [r for r in runs if r.regularizer is None]
        for speedup in sorted({r.target_speedup for r in criteria_runs}):
            at_speedup = [r for r in criteria_runs if r.target_speedup == speedup]
            path = folder / f"{stem}-channels-{speedup:g}x.png"
            title = f"{task} · {scope} · {speedup:g}x: channels kept per layer"
            figures.append(Figure(plots.channel_profile(at_speedup, title, path), title))
        title = f"{task} · {scope}: accuracy vs speed-up"
        figures.append(Figure(plots.accuracy_vs_speedup(runs, title, folder / f"{stem}-accuracy-speedup.png"), title))
        title = f"{task} · {scope}: accuracy vs remaining parameters"
        figures.append(Figure(plots.accuracy_vs_params(runs, title, folder / f"{stem}-accuracy-params.png"), title))
        if criteria_runs:
            title = f"{task}: step time per criterion"
            figures.append(Figure(plots.step_times(criteria_runs, title, folder / f"{stem}-step-time.png"), title))
    for summary in summaries:
        path = folder / f"critical-difference-{summary.track}.png"
        figures.append(Figure(plots.critical_difference(summary, path), summary.title))
    return figures


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")
