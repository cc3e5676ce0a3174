"""Leaderboards: every board of the store, filterable and sortable, with intervals, provenance, figures and the
cross-board summary; ``/api/boards`` returns the same boards as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from pruningbench.leaderboard import COLUMN_FIELDS, COLUMNS, Board, build_boards, prune_setting, summarize_tracks
from pruningbench.record import RunRecord
from pruningbench.web import charts
from pruningbench.web.routes import page

router = APIRouter()


@dataclass
class BoardQuery:
    """Which boards to show (each filter: None for all) and how to sort their rows: the page's and the API's query."""

    task: str | None = None
    scope: str | None = None
    speedup: float | None = None
    track: str | None = None
    setting: str | None = None
    sort: str | None = Query(None, description=f"a column: {', '.join(COLUMNS)}")
    desc: bool = False

    @property
    def filters(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "scope": self.scope,
            "speedup": self.speedup,
            "track": self.track,
            "setting": self.setting,
        }


def _filtered(request: Request, query: BoardQuery) -> tuple[list[Board], list[RunRecord], list[Board]]:
    """(the boards that pass the filters, sorted as asked; every record; every board)."""
    if query.sort is not None and query.sort not in COLUMN_FIELDS:
        raise HTTPException(422, f"sort: unknown column {query.sort!r}; one of: {', '.join(COLUMNS)}")
    records = request.app.state.store.records()
    every = build_boards(records)
    wanted = {name: value for name, value in query.filters.items() if value is not None}
    chosen = [board for board in every if all(getattr(board, name) == value for name, value in wanted.items())]
    if query.sort is not None:
        attribute = COLUMN_FIELDS[query.sort]

        def key(row: Any) -> tuple:
            value = getattr(row, attribute)
            return (value is None, value if value is not None else 0)

        chosen = [replace(board, rows=sorted(board.rows, key=key, reverse=query.desc)) for board in chosen]
    return chosen, records, every


@router.get("/", include_in_schema=False)
def home() -> Response:
    return RedirectResponse("/boards", status_code=307)


@router.get("/boards", include_in_schema=False)
def boards_page(request: Request, query: BoardQuery = Depends()) -> Response:
    chosen, records, every = _filtered(request, query)
    figures = []
    for group in sorted({(b.task, b.scope, b.track, b.setting) for b in chosen}):
        runs = [
            r
            for r in records
            if (r.task, r.scope, "criteria" if r.regularizer is None else "regularizer", prune_setting(r)) == group
        ]
        title = " · ".join(part for part in group if part)
        figures.append((title, charts.svg("accuracy_vs_speedup", runs, f"{title}: accuracy vs speed-up")))
    profiles = []
    for board in chosen:
        ids = {run_id for row in board.rows for run_id in row.run_ids}
        runs = [r for r in records if r.run_id in ids]
        profiles.append(charts.svg("channel_profile", runs, f"{board.title}: channels kept per layer"))
    summaries = summarize_tracks(every)
    options = {
        "task": sorted({b.task for b in every}),
        "scope": sorted({b.scope for b in every}),
        "speedup": sorted({b.speedup for b in every}),
        "track": sorted({b.track for b in every}),
        "setting": sorted({b.setting for b in every}),
    }
    return page(
        request,
        "boards.html",
        boards=list(zip(chosen, profiles)),
        columns=COLUMNS,
        figures=figures,
        summaries=[(s, charts.track_svg(s)) for s in summaries],
        options=options,
        filters=query.filters,
        sort=query.sort,
        desc=query.desc,
        total=len(records),
    )


@router.get("/api/boards", tags=["boards"])
def boards_api(request: Request, query: BoardQuery = Depends()) -> list[dict[str, Any]]:
    """The boards (filtered and sorted as the page), each with its title and ranked rows."""
    chosen, _, every = _filtered(request, query)
    summaries = {
        s.track: {
            "methods": s.methods,
            "mean_ranks": s.mean_ranks,
            "friedman_p": s.friedman.p_value,
            "critical_difference": s.critical_difference,
        }
        for s in summarize_tracks(every)
    }
    return [{**asdict(board), "title": board.title, "track_summary": summaries.get(board.track)} for board in chosen]
