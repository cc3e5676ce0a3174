"""Results bundles: a run exported from one installation (``pruningbench export-run``) and submitted to another.

A bundle is a zip holding exactly ``record.json`` (the run record) and ``model.pt`` (the pruned model in the safe
format): no code, no pickles. The receiving server checks what it can: it rebuilds the model without unpickling,
recomputes its parameters, MACs and the achieved speed-up, and re-evaluates the metric when the task's data is
configured there. A submission that does not match its claims is stored and shown as such, never hidden.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pruningbench.checkpoint import load_pruned, pruned_model_facts
from pruningbench.config import ConfigError, RunConfig, parse_config
from pruningbench.errors import UserError, first_line
from pruningbench.metrics import count_macs, count_params
from pruningbench.models import create_model
from pruningbench.record import RunRecord

__all__ = ["export_bundle", "read_bundle", "verify", "submitted_record", "local_config", "BUNDLE_FILES"]

BUNDLE_FILES = {"record.json", "model.pt"}
SPEEDUP_TOLERANCE = 1e-3  # relative: MACs counts agree exactly on one device; allow float formatting of the claim


def export_bundle(record: RunRecord, results_dir: Path, out: Path) -> Path:
    """Write ``record`` and its model file into the bundle ``out``."""
    model = results_dir / record.model_path
    if not model.is_file():
        raise UserError(f"the model file {model} of run {record.run_id[:8]} is missing")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("record.json", record.model_dump_json(indent=2))
        bundle.write(model, "model.pt")
    return out


def read_bundle(data: bytes, folder: Path, max_bytes: int) -> tuple[RunRecord, Path]:
    """The record of a bundle and its model file, written into ``folder``; a one-line error for anything else."""
    try:
        bundle = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UserError("bundle: not a zip file (export one with pruningbench export-run RUN_ID)") from None
    names = set(bundle.namelist())
    if names != BUNDLE_FILES:
        raise UserError(
            f"bundle: must hold exactly {', '.join(sorted(BUNDLE_FILES))} (it holds {', '.join(sorted(names))})"
        )
    if sum(info.file_size for info in bundle.infolist()) > max_bytes:
        raise UserError(f"bundle: its contents exceed the server's limit of {max_bytes // 2**20} MB")
    try:
        record = RunRecord.model_validate_json(bundle.read("record.json"))
    except ValidationError as error:
        first = error.errors()[0]
        raise UserError(f"bundle: record.json: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    local_config(record, {})  # the names are registered here and the values valid
    model = folder / "model.pt"
    model.write_bytes(bundle.read("model.pt"))
    return record, model


def verify(record: RunRecord, model_file: Path, data_roots: dict[str, Path]) -> dict[str, Any]:
    """Recompute what the bundle claims; each check with the claimed and recomputed value and whether they agree,
    and an overall ``status``: ``verified``, ``mismatch`` (something disagrees), or ``unverifiable``."""
    try:
        model = load_pruned(model_file, trusted=False)
    except UserError:
        raise
    except Exception as error:  # the structure does not fit the named model: nothing can be checked
        raise UserError(f"bundle: model.pt does not rebuild a {record.model}: {first_line(error)}") from None
    payload_shape = pruned_model_facts(model_file)
    full = create_model(record.model, *payload_shape[:2], image_size=payload_shape[2])
    input_shape = (payload_shape[1], payload_shape[2], payload_shape[2])
    macs_before, macs_after = count_macs(full, input_shape), count_macs(model, input_shape)
    checks: dict[str, Any] = {
        "params_after": _check(record.params_after, count_params(model)),
        "params_before": _check(record.params_before, count_params(full)),
        "macs_after": _check(record.macs_after, macs_after),
        "achieved_speedup": _check(record.achieved_speedup, macs_before / macs_after, SPEEDUP_TOLERANCE),
    }
    try:
        checks["pruned_metric"] = _check(record.pruned_metric, _evaluate(model, record, data_roots), 1e-6)
    except UserError as error:  # the task's data is not on this server
        checks["pruned_metric"] = {
            "claimed": record.pruned_metric,
            "recomputed": None,
            "ok": None,
            "note": f"not re-evaluated: {error}",
        }
    agreed = [check["ok"] for check in checks.values() if check["ok"] is not None]
    if not all(agreed):
        status = "mismatch"
    else:
        status = "verified" if checks["pruned_metric"]["ok"] else "verified (metric not re-evaluated)"
    return {"status": status, "checks": checks}


def local_config(record: RunRecord, data_roots: dict[str, Path], results_dir: Path | None = None) -> RunConfig:
    """A submitted run's config as this server would run it: its own data root for the dataset, no paths of the
    submitter's machine (weights files, checkpoints), its own results directory."""
    task = record.config.get("task", {})
    overrides: dict[str, Any] = {
        "task.data_root": str(data_roots[task.get("dataset")]) if task.get("dataset") in data_roots else None,
        "task.pretrained": task.get("pretrained") is True,
        "task.base_checkpoint": None,
    }
    if results_dir is not None:
        overrides["results_dir"] = str(results_dir)
    try:
        return parse_config(json.loads(json.dumps(record.config)), "bundle: record.json config", overrides)
    except ConfigError as error:
        raise UserError(str(error)) from None


def _check(claimed: float, recomputed: float, tolerance: float = 0.0) -> dict[str, Any]:
    ok = abs(claimed - recomputed) <= tolerance * max(abs(recomputed), 1.0)
    return {"claimed": claimed, "recomputed": recomputed, "ok": bool(ok)}


def _evaluate(model: Any, record: RunRecord, data_roots: dict[str, Path]) -> float:
    from pruningbench.pipeline import resolve_device
    from pruningbench.pipeline.workload import workload_for

    config = local_config(record, data_roots)
    device = resolve_device("auto")
    workload = workload_for(config, device)
    return workload.evaluate(model.to(device), desc="verify submission")[workload.metric]


def submitted_record(record: RunRecord, token_name: str, verification: dict[str, Any], model_path: str) -> RunRecord:
    """The record as stored here: a new id, a run key of its own (a submission never replaces a run made here, and
    a submitter's resubmission replaces their earlier one), its provenance and verification."""
    key = hashlib.sha256(f"{record.run_key}|submitted|{token_name}".encode()).hexdigest()[:16]
    return record.model_copy(
        update={
            "run_id": uuid.uuid4().hex,
            "run_key": f"s{key[1:]}",
            "origin": "submitted",
            "submitted_by": token_name,
            "verification": {**verification, "original_run_key": record.run_key},
            "model_path": model_path,
        }
    )
