"""Submitting results: upload a bundle exported with ``pruningbench export-run``; the server verifies what it can,
stores the run with its provenance and, on request, queues a full reproduction."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from pruningbench.checkpoint import atomic_save
from pruningbench.errors import UserError
from pruningbench.record import RunRecord
from pruningbench.store.tokens import Token
from pruningbench.submission import local_config, read_bundle, submitted_record, verify
from pruningbench.web.routes import page
from pruningbench.web.security import check_csrf, require

router = APIRouter()


async def _submit(request: Request, upload: UploadFile, token: Token, reproduce: bool) -> RunRecord:
    """Read, verify and store one bundle (and queue its reproduction when asked)."""
    import asyncio

    import torch

    settings = request.app.state.settings
    limit = int(settings.max_upload_mb * 2**20)
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"bundle: larger than the server's limit of {settings.max_upload_mb:g} MB")
    with tempfile.TemporaryDirectory() as folder:
        record, model_file = read_bundle(data, Path(folder), limit)
        verification = await asyncio.to_thread(verify, record, model_file, settings.data_roots)
        run_id = uuid.uuid4().hex
        model_path = f"models/submitted-{run_id}.pt"
        atomic_save(torch.load(model_file, map_location="cpu", weights_only=True), settings.results_dir / model_path)
    stored = submitted_record(record, token.name, verification, model_path).model_copy(update={"run_id": run_id})
    request.app.state.store.add(stored)
    if reproduce:
        config = local_config(record, settings.data_roots, settings.results_dir)
        request.app.state.queue.enqueue([config], submitted_by=token.name)
    return stored


@router.get("/submit", include_in_schema=False)
def submit_page(request: Request) -> Response:
    return page(request, "submit.html", error=None)


@router.post("/submit", include_in_schema=False)
async def submit_form(request: Request, token: Token = Depends(require("submit"))) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    upload = form.get("bundle")
    if not isinstance(upload, UploadFile) and not hasattr(upload, "read"):
        return page(request, "submit.html", status_code=422, error="bundle: choose a file")
    try:
        stored = await _submit(request, upload, token, form.get("reproduce") == "on")
    except UserError as error:
        return page(request, "submit.html", status_code=422, error=str(error))
    return RedirectResponse(f"/runs/{stored.run_id}", status_code=303)


@router.post("/api/submissions", tags=["submissions"], status_code=201)
async def submit_api(
    request: Request, bundle: UploadFile, reproduce: bool = False, token: Token = Depends(require("submit"))
) -> dict[str, Any]:
    """Upload a results bundle (multipart field ``bundle``); the stored run id and the verification."""
    try:
        stored = await _submit(request, bundle, token, reproduce)
    except UserError as error:
        raise HTTPException(422, str(error)) from None
    return {"run_id": stored.run_id, "verification": stored.verification}
