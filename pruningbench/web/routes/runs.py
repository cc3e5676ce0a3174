"""Runs: the list, one run's page (config, every metric, channels per layer, timings, versions, how to reproduce
it, its model file) and 2 to 4 runs side by side with their config differences; the same under ``/api/runs``."""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response

from pruningbench.errors import UserError
from pruningbench.leaderboard import provenance
from pruningbench.record import RunRecord
from pruningbench.web import charts
from pruningbench.web.routes import page

router = APIRouter()


def _run(request: Request, run_id: str) -> RunRecord:
    if not run_id.isalnum():
        raise HTTPException(422, f"run_id: {run_id!r} is not a run id")
    try:
        return request.app.state.store.get(run_id)
    except UserError as error:
        raise HTTPException(404, str(error)) from None


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _comparison(request: Request, ids: str) -> tuple[list[RunRecord], list[tuple[str, list[Any], bool]]]:
    wanted = [part for part in ids.split(",") if part.strip()]
    if not 2 <= len(wanted) <= 4:
        raise HTTPException(422, "ids: give 2 to 4 run ids, comma-separated")
    runs = [_run(request, run_id.strip()) for run_id in wanted]
    flats = [_flat(run.config) for run in runs]
    keys = sorted(set().union(*flats))
    rows = [(key, [flat.get(key) for flat in flats], len({repr(flat.get(key)) for flat in flats}) > 1) for key in keys]
    return runs, rows


def reproduce_command(record: RunRecord) -> str:
    """The commands that rerun ``record`` from its config (its data root is the reader's own)."""
    return f"curl -o run.yaml <this server>/runs/{record.run_id}/config.yaml && pruningbench run run.yaml --force"


@router.get("/runs", include_in_schema=False)
def runs_page(request: Request) -> Response:
    records = list(reversed(request.app.state.store.records()))
    return page(request, "runs.html", runs=records, provenance=provenance)


@router.get("/runs/{run_id}", include_in_schema=False)
def run_page(request: Request, run_id: str) -> Response:
    record = _run(request, run_id)
    channels = charts.svg("channel_profile", [record], f"{record.importance}: channels kept per layer")
    return page(
        request,
        "run.html",
        run=record,
        config_yaml=yaml.safe_dump(record.config, sort_keys=False),
        channels=channels,
        command=reproduce_command(record),
        provenance=provenance(record),
    )


@router.get("/runs/{run_id}/config.yaml", include_in_schema=False)
def run_config(request: Request, run_id: str) -> Response:
    return PlainTextResponse(yaml.safe_dump(_run(request, run_id).config, sort_keys=False), media_type="text/yaml")


@router.get("/runs/{run_id}/model", tags=["runs"])
def run_model(request: Request, run_id: str) -> Response:
    """The pruned model file (structure + state_dict: ``torch.load(weights_only=True)`` reads it)."""
    record = _run(request, run_id)
    path = request.app.state.settings.results_dir / record.model_path
    if not path.is_file():
        raise HTTPException(404, f"the model file of run {record.run_id[:8]} is not on this server")
    return FileResponse(path, filename=f"pruned-{record.run_id[:8]}.pt", media_type="application/octet-stream")


@router.get("/compare", include_in_schema=False)
def compare_page(request: Request, ids: str = Query(..., description="2 to 4 run ids, comma-separated")) -> Response:
    runs, rows = _comparison(request, ids)
    return page(request, "compare.html", runs=runs, rows=rows)


@router.get("/api/runs", tags=["runs"])
def runs_api(request: Request) -> list[dict[str, Any]]:
    """Every stored run record, newest first."""
    return [record.model_dump(mode="json") for record in reversed(request.app.state.store.records())]


@router.get("/api/runs/{run_id}", tags=["runs"])
def run_api(request: Request, run_id: str) -> dict[str, Any]:
    """One run record (a unique prefix of its id is enough)."""
    record = _run(request, run_id)
    return {**record.model_dump(mode="json"), "provenance": provenance(record), "reproduce": reproduce_command(record)}


@router.get("/api/compare", tags=["runs"])
def compare_api(request: Request, ids: str = Query(..., description="2 to 4 run ids, comma-separated")) -> dict:
    """The runs and every config key with its value in each run, and whether they differ."""
    runs, rows = _comparison(request, ids)
    return {
        "runs": [run.run_id for run in runs],
        "config": [{"key": key, "values": values, "differs": differs} for key, values, differs in rows],
    }
