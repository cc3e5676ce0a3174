"""The base model every run of a task prunes: trained once (or loaded from a checkpoint) and cached by hash."""

from __future__ import annotations

import logging
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pruningbench.checkpoint import atomic_save
from pruningbench.config import RunConfig
from pruningbench.errors import UserError, first_line
from pruningbench.models import create_model
from pruningbench.pipeline.hooks import current_hooks
from pruningbench.pipeline.workload import Workload
from pruningbench.seeding import seed_everything

__all__ = ["TrainedBase", "obtain_base_model", "base_cache_path", "base_stage_key"]

log = logging.getLogger(__name__)


@dataclass
class TrainedBase:
    """A trained, unpruned model with its test metric and the wall time its training took."""

    model: nn.Module
    metric: float  # the task's main metric
    train_time: float
    metrics: dict[str, float]  # every metric the task's evaluation reports


def base_stage_key(config: RunConfig) -> str:
    """The name under which runs claim the building of ``config``'s base model (see ``RunHooks.exclusive``)."""
    return f"base model {config.base_key()}"


def base_cache_path(config: RunConfig) -> Path:
    """Where the base model of ``config`` is cached: keyed by everything that determines it."""
    return config.results_dir / "cache" / "base" / f"{config.base_key()}.pt"


def obtain_base_model(config: RunConfig, workload: Workload, device: torch.device) -> TrainedBase:
    """The cached base model of ``config``; built first when missing (by one run only, when several share it): load
    ``task.base_checkpoint``, or the library's weights (``task.pretrained``), or train it with ``base_training``."""
    seed_everything(config.base_seed)  # the initial weights
    shape = {
        "num_classes": workload.num_classes, "in_channels": workload.input_shape[0], "image_size": workload.input_shape[-1]
    }
    model = create_model(config.task.model, **shape).to(device)
    cache = base_cache_path(config)
    if cache.is_file():
        log.info("base model: reusing %s", cache)
    else:
        with current_hooks().exclusive(base_stage_key(config)):  # one run builds it, the others wait
            if not cache.is_file():
                _build(model, config, workload, device, shape, cache)
    payload = torch.load(cache, map_location=device, weights_only=True)
    model.load_state_dict(payload["state_dict"])
    metrics = payload.get("metrics", {workload.metric: payload["metric"]})
    return TrainedBase(model, payload["metric"], payload["train_time"], metrics)


def _build(
    model: nn.Module, config: RunConfig, workload: Workload, device: torch.device, shape: dict[str, int], cache: Path
) -> None:
    """Load ``task.base_checkpoint``, or the library's weights, or train ``model``; evaluate it and cache it."""
    current_hooks().progress("base model")
    started = time.perf_counter()
    if config.task.base_checkpoint is not None:
        _load_checkpoint(model, config.task.base_checkpoint)
    elif config.task.pretrained:
        log.info("base model: %s with the library's pretrained weights", config.task.model)
        model = create_model(config.task.model, **shape, pretrained=config.task.pretrained).to(device)
    else:
        log.info("base model: training %s for %d epochs", config.task.model, config.base_training.epochs)
        workload.train(model, config.base_training, config.base_seed, desc="base training")
    train_time = time.perf_counter() - started
    metrics = workload.evaluate(model, desc="base evaluation")
    metric = metrics[workload.metric]
    payload = {"state_dict": model.state_dict(), "metric": metric, "metrics": metrics, "train_time": train_time}
    atomic_save(payload, cache)
    log.info("base model: %s %.2f, cached at %s", workload.metric, metric, cache)


def _load_checkpoint(model: nn.Module, path: Path) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as error:
        raise UserError(f"task.base_checkpoint {str(path)!r} is not a readable state_dict: {first_line(error)}") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    try:
        model.load_state_dict(state)
    except (RuntimeError, AttributeError) as error:
        raise UserError(f"task.base_checkpoint {str(path)!r} does not fit the model: {first_line(error)}") from None
