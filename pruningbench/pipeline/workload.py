"""What a task's data asks of the pipeline: how to train, evaluate and calibrate a model on it.

The four stages are the same for every task; a :class:`Workload` hides whether the task is image classification
(our SGD loop, top-1) or detection (ultralytics' trainer and validator, mAP50-95).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from pruningbench.config import CalibrationConfig, Recipe, RunConfig
from pruningbench.data import DataSplits, build_dataset, make_loader
from pruningbench.data.resident import ResidentLoader
from pruningbench.errors import UserError
from pruningbench.methods.importance import Batch
from pruningbench.methods.regularizers import Regularizer
from pruningbench.metrics import evaluate_topk
from pruningbench.pipeline.calibration import calibration_batches
from pruningbench.execution.distributed import check_devices, train_distributed
from pruningbench.pipeline.train import data_parallel_rank, train

__all__ = ["ClassificationWorkload", "Workload", "workload_for"]


class Workload(ABC):
    """Training, evaluation and calibration data of one task on one device."""

    metric: str  # name of the quality metric stored with every run
    num_classes: int
    input_shape: tuple[int, int, int]

    @abstractmethod
    def train(self, model: nn.Module, recipe: Recipe, seed: int, desc: str,
              regularizer: Regularizer | None = None, checkpoint: Path | None = None) -> float:
        """Train ``model`` in place; the training seconds (see :func:`pruningbench.pipeline.train.train`)."""

    @abstractmethod
    def evaluate(self, model: nn.Module, desc: str) -> dict[str, float]:
        """The quality metrics of ``model`` on the test/validation split, in percent; ``metric`` is the main one."""

    @abstractmethod
    def calibration(self, config: CalibrationConfig, seed: int) -> list[Batch]:
        """The seeded calibration sample of training images."""


class ClassificationWorkload(Workload):
    """Image classification: the run's recipe in our training loop, top-1 accuracy (top-5 beside it)."""

    metric = "top1"

    def __init__(self, data: DataSplits, config: RunConfig, device: torch.device) -> None:
        self.data, self.device, self.config = data, device, config
        for recipe in (config.base_training, config.sparsify, config.finetune):
            if recipe is not None:
                check_devices(recipe.nproc, device)
        self.workers, self.eval_batch_size = config.task.workers, config.eval_batch_size
        self.num_classes, self.input_shape = data.num_classes, data.input_shape
        wanted = config.task.data_on_device
        if wanted and data.resident is None:
            raise UserError(f"task.data_on_device: dataset {config.task.dataset!r} cannot be kept on the device")
        on_device = device.type == "cuda" if wanted is None else wanted
        self.resident = data.resident if on_device else None

    def train(self, model: nn.Module, recipe: Recipe, seed: int, desc: str,
              regularizer: Regularizer | None = None, checkpoint: Path | None = None) -> float:
        rank = data_parallel_rank()
        if recipe.nproc > 1 and rank is None:  # this stage runs in torchrun processes, which come back here
            return train_distributed(
                model, self.config, recipe, seed, desc, self.device, self.input_shape, self.num_classes,
                regularized=regularizer is not None, checkpoint=checkpoint,
            )
        shard = (0, 1) if rank is None else (rank, torch.distributed.get_world_size())
        mixing = bool(recipe.mixup or recipe.cutmix)  # pairs images within a batch: every batch full (timm does too)
        loader: Iterable = (
            ResidentLoader(self.resident, True, recipe.batch_size, self.device, drop_last=mixing, shard=shard)
            if self.resident is not None
            else make_loader(self.data.train, recipe.batch_size, shuffle=True, seed=seed, workers=self.workers,
                             drop_last=mixing, shard=shard)
        )
        return train(model, loader, recipe, self.device, desc=desc, seed=seed, regularizer=regularizer,
                     checkpoint=checkpoint, num_classes=self.num_classes)

    def evaluate(self, model: nn.Module, desc: str) -> dict[str, float]:
        loader: Iterable = (
            ResidentLoader(self.resident, False, self.eval_batch_size, self.device)
            if self.resident is not None
            else make_loader(self.data.test, self.eval_batch_size, shuffle=False, seed=0, workers=self.workers)
        )
        return evaluate_topk(model, loader, self.device, desc=desc)

    def calibration(self, config: CalibrationConfig, seed: int) -> list[Batch]:
        return calibration_batches(self.data.train, config, seed, self.device)


def workload_for(config: RunConfig, device: torch.device) -> Workload:
    """The workload of ``config``'s dataset."""
    data = build_dataset(config.task.dataset, config.task.data_root, config.task.download, config.task.image_size)
    if isinstance(data, DataSplits):
        return ClassificationWorkload(data, config, device)
    from pruningbench.pipeline.detection import DetectionWorkload  # ultralytics only when a detection task runs

    return DetectionWorkload(data, config, device)
