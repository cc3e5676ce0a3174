"""A suite on a Ray cluster (``bench SUITE --executor ray``): Ray core tasks, no scheduler of our own.

The driver (this process) connects with ``ray.init()`` (a local Ray, or the cluster in ``$RAY_ADDRESS``) and
checks that the workers see its results directory (a marker a task writes must appear here). Each shared stage is
a task: one per distinct base model, one per distinct sparsified model; each run is a task that depends on them.
Tasks pass *cache keys* (the stages' files live in the shared results directory), never models: a lost object
would retrain a base model. A run task returns its record and only the driver writes the store (SQLite's WAL does
not work over network file systems). Ray retries a task whose worker or node died; an application error is retried
only when transient (CUDA out of memory, a lost connection), then the run is reported failed and the suite goes on.
"""

from __future__ import annotations

import os
import socket
import time
from contextlib import nullcontext
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.live import Live
from rich.text import Text

from pruningbench.config import RunConfig, parse_config
from pruningbench.errors import UserError, first_line
from pruningbench.execution.queue import describe
from pruningbench.leaderboard import format_duration
from pruningbench.record import RunRecord
from pruningbench.store import ResultStore

__all__ = ["ClusterOutcome", "run_on_ray"]

MAX_RETRIES = 3  # a task whose worker or node died runs again, this many times at most
TRANSIENT = (torch.cuda.OutOfMemoryError, ConnectionError)  # application errors worth another try
POLL_S = 1.0
CONNECT_TIMEOUT_S = 5.0


@dataclass
class ClusterOutcome:
    """What the suite produced: the stored records and, per failed run, its description and reason."""

    records: list[RunRecord]
    failures: dict[str, str]


def run_on_ray(configs: list[RunConfig], store: ResultStore, results_dir: Path, console: Console) -> ClusterOutcome:
    """Run the ``configs`` not yet stored as Ray tasks and store their records as they arrive."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    pending = [config for config in configs if store.find(config.run_key()) is None]
    _connect(ray)
    try:
        _check_shared(ray, results_dir.resolve())
        gpus = ray.cluster_resources().get("GPU", 0) > 0
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        started = ray.remote(num_cpus=0, scheduling_strategy=here)(_Started).remote()
        tasks = _submit(ray, pending, gpus, started)
        return _follow(ray, tasks, store, console, started)
    finally:
        ray.shutdown()


def _connect(ray: Any) -> None:
    address = os.environ.get("RAY_ADDRESS")
    if address and address != "auto":
        _reachable(address)
    local = {} if address else {"include_dashboard": False}  # options only for a Ray started here
    try:
        ray.init(address=address, logging_level="warning", log_to_driver=False, **local)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as error:
        where = f"RAY_ADDRESS {address!r}" if address else "a local Ray"
        raise UserError(f"cannot connect to {where}: {first_line(error)}") from None


def _reachable(address: str) -> None:
    """Fail in one line, within seconds, when nothing listens at ``RAY_ADDRESS`` (Ray itself retries for minutes)."""
    host, _, port = address.split("://")[-1].rstrip("/").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except ValueError:
        raise UserError(f"RAY_ADDRESS {address!r} is not HOST:PORT (or ray://HOST:PORT, or auto)") from None
    except OSError as error:
        raise UserError(f"cannot connect to RAY_ADDRESS {address!r}: {error.strerror or error}") from None


def _check_shared(ray: Any, results_dir: Path) -> None:
    """Refuse a results directory that some node does not share with the driver (its tasks would cache and save
    elsewhere): a task pinned to every alive node writes a marker there, and the driver must see them all."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    results_dir.mkdir(parents=True, exist_ok=True)
    nodes = [node["NodeID"] for node in ray.nodes() if node["Alive"]]
    markers = [results_dir / f".ray-check-{uuid.uuid4().hex}" for _ in nodes]
    write = ray.remote(num_cpus=0)(_write_marker)
    ray.get([
        write.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(str(marker))
        for node, marker in zip(nodes, markers)
    ])  # fmt: skip
    try:
        if not all(marker.is_file() for marker in markers):
            raise UserError(
                f"--results-dir {str(results_dir)!r} is not shared with the Ray workers (a file a worker wrote there "
                "is not visible here): put it on a file system every node mounts at the same path"
            )
    finally:
        for marker in markers:
            marker.unlink(missing_ok=True)


def _write_marker(path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("written by a Ray worker\n")


@dataclass
class _Task:
    label: str
    ref: Any


class _Started:
    """A Ray actor on the driver's node: the run tasks that have started (for the live view's running count)."""

    def __init__(self) -> None:
        self.labels: set[str] = set()

    def add(self, label: str) -> None:
        self.labels.add(label)

    def get(self) -> set[str]:
        return self.labels


def _submit(ray: Any, configs: list[RunConfig], gpus: bool, started: Any) -> list[_Task]:
    """One task per distinct base model and sparsified model, then one per run depending on them."""
    from pruningbench.methods.regularizers import create_regularizer
    from pruningbench.pipeline.sparsify import sparse_cache_path

    bases: dict[str, Any] = {}
    sparse: dict[str, Any] = {}
    tasks = []
    for config in configs:
        options = _options(config, gpus)
        payload = config.model_dump(mode="json")
        base_key = config.base_key()
        if base_key not in bases:
            bases[base_key] = ray.remote(_base_stage).options(**options).remote(payload)
        stage = bases[base_key]
        if config.method.regularizer is not None and config.sparsify is not None:
            key = sparse_cache_path(config, create_regularizer(config.method.regularizer, config.sparsify)).name
            if key not in sparse:
                sparse[key] = ray.remote(_sparse_stage).options(**options).remote(payload, stage)
            stage = sparse[key]
        label = describe(config)
        tasks.append(_Task(label, ray.remote(_run).options(**options).remote(payload, stage, started, label)))
    return tasks


def _options(config: RunConfig, gpus: bool) -> dict[str, Any]:
    """A task's resources from its preset; a task that uses no GPU has them hidden (it runs on the CPU)."""
    wanted = config.resources.gpus if gpus else 0.0
    options: dict[str, Any] = {
        "num_cpus": config.resources.cpus,
        "num_gpus": wanted,
        "max_retries": MAX_RETRIES,
        "retry_exceptions": list(TRANSIENT),
    }
    if config.resources.memory_gb is not None:
        options["memory"] = int(config.resources.memory_gb * 2**30)
    if not wanted:
        options["runtime_env"] = {"env_vars": {"CUDA_VISIBLE_DEVICES": ""}}
    return options


def _stage_setup(payload: dict[str, Any]) -> RunConfig:
    """In a task: the plug-ins of the driver's environment, then the run's config."""
    from pruningbench.registry import load_plugins

    load_plugins()
    return parse_config(payload, "cluster task")


def _base_stage(payload: dict[str, Any]) -> str:
    """Train (or load) and cache the run's base model; its cache key."""
    from pruningbench.pipeline import resolve_device
    from pruningbench.pipeline.base_model import obtain_base_model
    from pruningbench.pipeline.workload import workload_for

    config = _stage_setup(payload)
    device = resolve_device(config.device)
    obtain_base_model(config, workload_for(config, device), device)
    return config.base_key()


def _sparse_stage(payload: dict[str, Any], _base_key: str) -> str:
    """Sparsify the (cached) base model under the run's regularizer and cache it; its cache file's name."""
    from pruningbench.methods.importance import create_criterion
    from pruningbench.methods.regularizers import create_regularizer
    from pruningbench.pipeline import resolve_device
    from pruningbench.pipeline.base_model import obtain_base_model
    from pruningbench.pipeline.sparsify import sparse_cache_path, sparsify
    from pruningbench.pipeline.workload import workload_for

    config = _stage_setup(payload)
    assert config.method.regularizer is not None and config.sparsify is not None
    device = resolve_device(config.device)
    workload = workload_for(config, device)
    model = obtain_base_model(config, workload, device).model
    needs_data = create_criterion(config.method.importance, config.seed).calibrated
    calibration = workload.calibration(config.calibration, config.seed) if needs_data else None
    sparsify(model, config, workload, device, calibration)
    return sparse_cache_path(config, create_regularizer(config.method.regularizer, config.sparsify)).name


def _run(payload: dict[str, Any], _stage_key: str, started: Any, label: str) -> dict[str, Any]:
    """One run, its shared stages already cached; its record (the driver stores it)."""
    from pruningbench.pipeline import execute_run

    started.add.remote(label)
    return execute_run(_stage_setup(payload)).model_dump(mode="json")


def _follow(ray: Any, tasks: list[_Task], store: ResultStore, console: Console, started: Any) -> ClusterOutcome:
    """Store records as runs finish and show done / running / failed / pending until every run has ended (a live
    line on a terminal; a line per change otherwise, e.g. in a log)."""
    records: list[RunRecord] = []
    failures: dict[str, str] = {}
    waiting = {task.ref: task for task in tasks}
    begun, shown = time.monotonic(), ""
    with Live(console=console, auto_refresh=False, transient=False) if console.is_terminal else nullcontext() as live:
        while waiting:
            ready, _ = ray.wait(list(waiting), num_returns=len(waiting), timeout=POLL_S)
            for ref in ready:
                task = waiting.pop(ref)
                try:
                    record = RunRecord.model_validate(ray.get(ref))
                except ray.exceptions.RayError as error:
                    failures[task.label] = _reason(error)
                    continue
                store.add(record)
                records.append(record)
            running = len(ray.get(started.get.remote()) & {task.label for task in waiting.values()})
            counts = f"{len(records)} done · {running} running · {len(failures)} failed · {len(waiting) - running} pending"
            if live is not None:
                live.update(Text(f"suite on Ray: {counts} · {format_duration(time.monotonic() - begun)}"), refresh=True)
            elif counts != shown:
                console.print(f"suite on Ray: {counts}", highlight=False)
            shown = counts
    return ClusterOutcome(records, failures)


def _reason(error: Exception) -> str:
    cause: Callable[[], Any] | None = getattr(error, "as_instanceof_cause", None)
    original = cause() if cause is not None else error
    return first_line(getattr(original, "cause", None) or original)
