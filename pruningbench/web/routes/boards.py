"""Leaderboards: every board of the store, filterable and sortable, with intervals, provenance, figures and the
cross-board summary; ``/api/boards`` returns the same boards as JSON."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from pruningbench.leaderboard import COLUMN_FIELDS, COLUMNS, Board, build_boards, prune_setting, summarize_tracks
from pruningbench.record import RunRecord
from pruningbench.web import charts
from pruningbench.web.routes import page

router = APIRouter()


def _filtered(
    request: Request,
    task: str | None,
    scope: str | None,
    speedup: float | None,
    track: str | None,
    setting: str | None,
    sort: str | None,
    desc: bool,
) -> tuple[list[Board], list[RunRecord], list[Board]]:
    """(the boards that pass the filters, sorted as asked; every record; every board)."""
    if sort is not None and sort not in COLUMN_FIELDS:
        from fastapi import HTTPException

        raise HTTPException(422, f"sort: unknown column {sort!r}; one of: {', '.join(COLUMNS)}")
    records = request.app.state.store.records()
    every = build_boards(records)
    chosen = [
        board
        for board in every
        if (task is None or board.task == task)
        and (scope is None or board.scope == scope)
        and (speedup is None or board.speedup == speedup)
        and (track is None or board.track == track)
        and (setting is None or board.setting == setting)
    ]
    if sort is not None:
        attribute = COLUMN_FIELDS[sort]

        def key(row: Any) -> tuple:
            value = getattr(row, attribute)
            return (value is None, value if value is not None else 0)

        chosen = [replace(board, rows=sorted(board.rows, key=key, reverse=desc)) for board in chosen]
    return chosen, records, every


@router.get("/", include_in_schema=False)
def home() -> Response:
    return RedirectResponse("/boards", status_code=307)


@router.get("/boards", include_in_schema=False)
def boards_page(
    request: Request,
    task: str | None = None,
    scope: str | None = None,
    speedup: float | None = None,
    track: str | None = None,
    setting: str | None = None,
    sort: str | None = None,
    desc: bool = False,
) -> Response:
    chosen, records, every = _filtered(request, task, scope, speedup, track, setting, sort, desc)
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
    chosen_filters = {"task": task, "scope": scope, "speedup": speedup, "track": track, "setting": setting}
    return page(
        request,
        "boards.html",
        boards=list(zip(chosen, profiles)),
        columns=COLUMNS,
        figures=figures,
        summaries=[(s, charts.track_svg(s)) for s in summaries],
        options=options,
        filters=chosen_filters,
        sort=sort,
        desc=desc,
        total=len(records),
    )


@router.get("/api/boards", tags=["boards"])
def boards_api(
    request: Request,
    task: str | None = None,
    scope: str | None = None,
    speedup: float | None = None,
    track: str | None = None,
    setting: str | None = None,
    sort: str | None = Query(None, description=f"a column: {', '.join(COLUMNS)}"),
    desc: bool = False,
) -> list[dict[str, Any]]:
    """The boards (filtered and sorted as the page), each with its title and ranked rows."""
    chosen, _, every = _filtered(request, task, scope, speedup, track, setting, sort, desc)
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
