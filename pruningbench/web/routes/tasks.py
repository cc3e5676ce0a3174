"""Tasks: the "new task" form (generated from the config schema and the registries) that queues runs, and the queue
with live progress over server-sent events, cancel and retry; the same under ``/api/tasks``."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from pruningbench.config import preset_names
from pruningbench.execution.queue import TaskQueue
from pruningbench.store.tokens import Token
from pruningbench.suite import suite_names
from pruningbench.web.forms import GRID_FIELDS, FormError, configs_from_form, form_fields, suite_defaults
from pruningbench.web.routes import page
from pruningbench.web.security import check_csrf, require

router = APIRouter()

SSE_INTERVAL_S = 1.0
SSE_LIFETIME_S = 3600.0  # a stream ends after an hour; the browser reconnects by itself


def _queue_runs(request: Request, token: Token, preset: str, values: dict[str, str]) -> list[int]:
    """Validate a submission and queue its runs (within the token's limit); their task ids."""
    settings = request.app.state.settings
    configs = configs_from_form(preset, values, settings.data_roots, settings.results_dir)
    queue: TaskQueue = request.app.state.queue
    limit = request.app.state.settings.queue_limit
    if queue.active_count(token.name) + len(configs) > limit:
        raise HTTPException(
            429,
            f"token {token.name!r} may have {limit} queued or running tasks; this adds "
            f"{len(configs)} to {queue.active_count(token.name)}",
        )
    return queue.enqueue(configs, batch=uuid.uuid4().hex[:12], submitted_by=token.name)


def _form_context(preset: str, suite: str | None) -> tuple[str, dict[str, str]]:
    if suite is not None:
        if suite not in suite_names():
            raise HTTPException(422, f"suite: unknown suite {suite!r}; available: {', '.join(suite_names())}")
        return suite_defaults(suite)
    if preset not in preset_names():
        raise HTTPException(422, f"preset: unknown preset {preset!r}; available: {', '.join(preset_names())}")
    return preset, {}


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


@router.get("/tasks/new", include_in_schema=False)
def new_task_page(request: Request, preset: str = "quickstart", suite: str | None = None) -> Response:
    preset, filled = _form_context(preset, suite)
    fields = form_fields(preset)
    values = {field.name: filled.get(field.name, _text(field.default)) for field in fields}
    return page(
        request,
        "new_task.html",
        preset=preset,
        presets=preset_names(),
        suites=suite_names(),
        fields=fields,
        values=values,
        errors={},
        grid=GRID_FIELDS,
    )


@router.post("/tasks/new", include_in_schema=False)
async def new_task_submit(request: Request, token: Token = Depends(require("submit"))) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    preset = str(form.get("preset", ""))
    values = {key: str(value) for key, value in form.items() if key not in ("csrf", "preset")}
    try:
        _queue_runs(request, token, preset, values)
    except FormError as error:
        fields = form_fields(preset) if preset in preset_names() else []
        return page(
            request,
            "new_task.html",
            status_code=422,
            preset=preset,
            presets=preset_names(),
            suites=suite_names(),
            fields=fields,
            values=values,
            errors={error.field: error.message},
            grid=GRID_FIELDS,
        )
    return RedirectResponse("/queue", status_code=303)


@router.get("/queue", include_in_schema=False)
def queue_page(request: Request) -> Response:
    return page(request, "queue.html", tasks=request.app.state.queue.tasks())


@router.get("/queue/events", include_in_schema=False)
async def queue_events(request: Request) -> StreamingResponse:
    """The queue table as an SSE message every second while it changes (htmx swaps it into the page)."""
    templates = request.app.state.templates
    queue: TaskQueue = request.app.state.queue

    async def stream():
        last, waited = None, 0.0
        while waited < SSE_LIFETIME_S and not await request.is_disconnected():
            tasks = await asyncio.to_thread(queue.tasks)
            html = templates.get_template("_queue_table.html").render(tasks=tasks, csrf=_csrf(request))
            if html != last:
                last = html
                yield "event: queue\n" + "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
            await asyncio.sleep(SSE_INTERVAL_S)
            waited += SSE_INTERVAL_S

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _csrf(request: Request) -> str:
    from pruningbench.web.security import session_of

    session = session_of(request)
    return session.csrf if session else ""


@router.post("/tasks/{task_id}/{action}", include_in_schema=False)
async def task_action(
    request: Request, task_id: int, action: str, token: Token = Depends(require("admin"))
) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    _act(request.app.state.queue, task_id, action)
    return RedirectResponse("/queue", status_code=303)


def _act(queue: TaskQueue, task_id: int, action: str) -> str:
    if action == "cancel":
        return queue.cancel(task_id)
    if action == "retry":
        queue.retry(task_id)
        return "queued"
    raise HTTPException(404, f"no action {action!r}; cancel or retry")


@router.get("/api/tasks", tags=["tasks"])
def tasks_api(request: Request) -> list[dict[str, Any]]:
    """Every task: state, progress (stage, epoch, fraction, ETA), worker, attempts, error."""
    return [asdict(task) for task in request.app.state.queue.tasks()]


@router.get("/api/schema", tags=["tasks"])
def schema_api(preset: str = "quickstart") -> dict[str, Any]:
    """The new-task form: every field with its default (from ``preset``), choices or allowed range."""
    preset, _ = _form_context(preset, None)
    return {
        "preset": preset,
        "presets": preset_names(),
        "suites": suite_names(),
        "grid_fields": list(GRID_FIELDS),
        "fields": [{**asdict(field), "range": field.range_text} for field in form_fields(preset)],
    }


@router.post("/api/tasks", tags=["tasks"], status_code=201)
def create_tasks_api(
    request: Request,
    preset: str = Body(..., description="a preset name"),
    values: dict[str, str | int | float | bool | None] = Body(default_factory=dict, description="field -> value"),
    token: Token = Depends(require("submit")),
) -> dict[str, list[int]]:
    """Queue the runs of a form submission (grid fields take comma-separated lists); their task ids."""
    return {"tasks": _queue_runs(request, token, preset, {key: _text(value) for key, value in values.items()})}


@router.post("/api/tasks/{task_id}/{action}", tags=["tasks"])
def task_action_api(
    request: Request, task_id: int, action: str, token: Token = Depends(require("admin"))
) -> dict[str, Any]:
    """``cancel`` or ``retry`` a task; its new state."""
    return {"task": task_id, "state": _act(request.app.state.queue, task_id, action)}
