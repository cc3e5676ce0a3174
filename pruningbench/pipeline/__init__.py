"""The fixed four-stage pipeline: sparsify (optional) → group → prune → finetune, producing one RunRecord.

Every method goes through exactly this code; only the criterion (and regularizer) named in the config differ.
"""

from __future__ import annotations

import copy
import logging
import uuid
from datetime import datetime, timezone

import torch

from pruningbench.checkpoint import save_pruned
from pruningbench.config import RunConfig
from pruningbench.errors import UserError
from pruningbench.latency import TimingSetup, measure_engines
from pruningbench.latency.reference import BaseTimings
from pruningbench.latency.target import LatencyAim
from pruningbench.methods.importance import create_criterion
from pruningbench.pipeline.base_model import obtain_base_model
from pruningbench.pipeline.hooks import current_hooks
from pruningbench.pipeline.prune import prune_to_speedup
from pruningbench.pipeline.sparsify import sparsify
from pruningbench.pipeline.train import training_precision
from pruningbench.pipeline.workload import workload_for
from pruningbench.record import RunRecord, library_versions
from pruningbench.seeding import configure_determinism, seed_everything
from pruningbench.store import ResultStore

__all__ = ["execute_run", "resolve_device", "run_experiment"]

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def run_experiment(config: RunConfig, store: ResultStore, force: bool = False) -> RunRecord:
    """Run one experiment and store its record; a run already stored is returned as is unless ``force``."""
    if not force and (stored := store.find(config.run_key())) is not None:
        log.info("already stored as run %s (use --force to run again)", stored.run_id[:8])
        return stored
    record = execute_run(config)
    store.add(record)
    if record.predicted_latency_ratio is not None:
        log.info(
            "latency target %gx: table predicted %.3fx, measured %.3fx [%.3f-%.3f]",
            config.prune.speedup,
            record.predicted_latency_ratio,
            record.latency_ratio,
            *(record.latency_ratio_ci or (0.0, 0.0)),
        )
    log.info(
        "done: %.2f%% → %.2f%% (Δ %+.2f), %.3fx MACs, %.2fx measured latency, run %s",
        record.base_metric,
        record.pruned_metric,
        record.delta,
        record.achieved_speedup,
        record.latency_speedup,
        record.run_id[:8],
    )
    return record


def execute_run(config: RunConfig) -> RunRecord:
    """Run the four stages of one experiment and return its record, unstored (the pruned model is saved under the
    results directory): what a cluster task does, handing the record to the one process that writes the store."""
    run_key = config.run_key()
    hooks = current_hooks()
    hooks.progress("load data")
    device = resolve_device(config.device)
    if device.type != "cuda" and (recipe := config.fp16_recipe()):
        raise UserError(f"{recipe}.precision fp16 needs a CUDA device; none is available (bf16 runs on CPU)")
    configure_determinism(config.deterministic)
    workload = workload_for(config, device)
    base = obtain_base_model(config, workload, device)
    model = base.model

    seed_everything(config.seed)
    example = torch.randn(1, *workload.input_shape, device=device)
    criterion = create_criterion(config.method.importance, config.seed)
    needs_data = criterion.calibrated or config.prune.reconstruct != "none"
    calibration = workload.calibration(config.calibration, config.seed) if needs_data else None
    if config.method.regularizer:
        hooks.progress("sparsify")
        reg_time = sparsify(model, config, workload, device, calibration)
        seed_everything(config.seed)  # what follows does not depend on whether this run or another built the stage
    else:
        reg_time = None
    hooks.progress("prune")
    log.info("prune: %s, %s scope, target %gx", config.method.importance, config.prune.scope, config.prune.speedup)
    unpruned = copy.deepcopy(model)  # kept to time against the pruned model, pair by pair, at the end
    latency = config.latency
    timing = TimingSetup(
        device, latency.batch_size, latency.precision, latency.channels_last, latency.threads or torch.get_num_threads()
    )
    aim = None
    if config.prune.target == "latency":
        table_dir = config.results_dir / "cache" / "latency"
        aim = LatencyAim(latency.engines[0], timing, table_dir, latency.warmup, latency.repeats, config.seed)
    outcome = prune_to_speedup(model, criterion, example, config.prune, calibration, aim, original=unpruned)
    hooks.progress("evaluate")
    before_finetune = workload.evaluate(model, desc="pruned evaluation")[workload.metric]
    finetune_time = workload.train(model, config.finetune, config.seed, desc="finetune")
    hooks.progress("evaluate")
    pruned_metrics = workload.evaluate(model, desc="final evaluation")
    pruned_metric = pruned_metrics[workload.metric]
    hooks.progress("latency")
    measured = measure_engines(
        unpruned,
        model,
        tuple(workload.input_shape),
        list(latency.engines),
        timing,
        latency.warmup,
        latency.repeats,
        config.seed,
        extra_batches=(1,),
    )
    shown_key = f"{latency.engines[0]}@{latency.batch_size}"
    shown = measured[shown_key]
    references = BaseTimings(config.results_dir / "cache" / "latency").references(config.base_key(), measured)
    del unpruned

    hooks.progress("store")
    run_id = uuid.uuid4().hex
    model_path = f"models/{run_id}.pt"
    save_pruned(
        model,
        config.results_dir / model_path,
        config.task.model,
        workload.num_classes,
        workload.input_shape[0],
        workload.input_shape[-1],
    )
    record = RunRecord(
        run_id=run_id,
        run_key=run_key,
        created_at=datetime.now(timezone.utc),
        task=f"{config.task.model} on {config.task.dataset}",
        model=config.task.model,
        dataset=config.task.dataset,
        importance=config.method.importance,
        regularizer=config.method.regularizer,
        scope=config.prune.scope,
        protected_share=config.prune.protected_share,
        seed=config.seed,
        metric=workload.metric,
        base_metric=base.metric,
        pruned_metric=pruned_metric,
        pruned_metric_before_finetune=before_finetune,
        target_speedup=config.prune.speedup,
        achieved_speedup=outcome.achieved_speedup,
        params_before=outcome.params_before,
        params_after=outcome.params_after,
        macs_before=outcome.macs_before,
        macs_after=outcome.macs_after,
        step_time=outcome.step_time,
        prune_time=outcome.prune_time,
        reg_time=reg_time,
        finetune_time=finetune_time,
        base_train_time=base.train_time,
        base_metrics=base.metrics,
        pruned_metrics=pruned_metrics,
        base_latency_ms=references[shown_key],
        latency_ms=references[shown_key] / shown.speedup,
        latency_device=shown.pruned.device,
        latency_ratio=shown.speedup,
        latency_ratio_ci=(shown.low, shown.high),
        latencies={key: figure.as_dict() | {"base_reference_ms": references[key]} for key, figure in measured.items()},
        predicted_latency_ratio=outcome.predicted_latency_speedup,
        channels_before=outcome.channels_before,
        channels_after=outcome.channels_after,
        config=config.model_dump(mode="json"),
        versions=library_versions() | _plugin_and_precision_notes(config, device),
        model_path=model_path,
    )
    return record


def _plugin_and_precision_notes(config: RunConfig, device: torch.device) -> dict[str, str]:
    """What the record's ``versions`` adds to the library versions: each plug-in component's origin, and the
    precision ``precision: auto`` trained in on this device (the config keeps ``auto``, the run's identity)."""
    notes = {f"plugin {key}": origin for key, origin in config.plugin_origins().items()}
    if any(recipe.precision == "auto" for recipe in config.recipes().values()):
        notes["training precision (auto)"] = training_precision("auto", device)
    return notes
