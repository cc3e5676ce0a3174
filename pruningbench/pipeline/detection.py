"""The detection workload: ultralytics' trainer (its loss, augmentation and optimizer step) and validator (mAP50-95).

The pruned model is handed to ultralytics as it is: its ``DetectionTrainer`` trains the given module (no rebuild
from YAML) and the trained EMA weights are copied back into it; the validator gets a copy, because it fuses
convolutions and BatchNorms in place. Recipes map onto ultralytics' settings (SGD, ``lr0``, momentum, weight
decay, warm-up epochs, cosine schedule). A sparsity regularizer runs as an optimizer step pre-hook (after
ultralytics' gradient unscaling and clipping) and its schedule on ultralytics' epoch-end callback. With a
``checkpoint`` (the sparsifying stage passes one), the model, its EMA, the optimizer and the regularizer's state are
saved after every epoch and an interrupted training resumes at the next epoch on the same schedule (ultralytics' own
resume rebuilds the model from its YAML, which a pruned or custom module is not). Calibration batches carry the
images' boxes, so the loss-based criteria use ultralytics' detection loss.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image
from torch import nn
from torchvision.transforms.functional import pil_to_tensor, resize

from pruningbench.checkpoint import atomic_save
from pruningbench.config import CalibrationConfig, Recipe, RunConfig
from pruningbench.data.coco import DetectionData
from pruningbench.errors import UserError
from pruningbench.methods.importance import Batch
from pruningbench.methods.regularizers import Regularizer
from pruningbench.pipeline.hooks import current_hooks
from pruningbench.pipeline.workload import Workload

if TYPE_CHECKING:
    from ultralytics.models.yolo.detect import DetectionTrainer

__all__ = ["DetectionWorkload"]

log = logging.getLogger(__name__)
METRIC_KEYS = {"mAP50-95": "metrics/mAP50-95(B)", "mAP50": "metrics/mAP50(B)"}


class DetectionWorkload(Workload):
    """Object detection with ultralytics: mAP50-95 on the validation split, in percent."""

    metric = "mAP50-95"

    def __init__(self, data: DetectionData, config: RunConfig, device: torch.device) -> None:
        os.environ.setdefault("YOLO_OFFLINE", "1")
        if any(recipe is not None and recipe.nproc > 1 for recipe in (config.base_training, config.sparsify, config.finetune)):
            raise UserError("nproc > 1 is not supported for detection tasks yet (ultralytics' trainer runs them)")
        self.data, self.device = data, device
        self.num_classes, self.input_shape = data.num_classes, data.input_shape
        self.model_yaml = f"{config.task.model}.yaml"
        self.workers, self.eval_batch_size = config.task.workers, config.eval_batch_size
        self.project = (config.results_dir / "ultralytics").resolve()

    def _common(self) -> dict[str, object]:
        return {
            "data": self.data.yaml, "imgsz": self.input_shape[-1], "workers": self.workers, "plots": False,
            "verbose": False, "device": "cpu" if self.device.type == "cpu" else str(self.device.index or 0),
        }

    def train(self, model: nn.Module, recipe: Recipe, seed: int, desc: str,
              regularizer: Regularizer | None = None, checkpoint: Path | None = None) -> float:
        from ultralytics.models.yolo.detect import DetectionTrainer

        if recipe.schedule != "cosine":
            raise UserError("detection recipes use ultralytics' cosine schedule: set schedule: cosine")
        if recipe.mixup or recipe.cutmix:
            raise UserError("detection recipes use ultralytics' own augmentation: set mixup and cutmix to 0")
        if recipe.epochs == 0:
            return 0.0
        saved = torch.load(checkpoint, map_location=self.device, weights_only=True) if (
            checkpoint is not None and checkpoint.is_file()) else None
        if saved is not None and saved["epoch"] >= recipe.epochs:  # finished, but its caller stopped before storing
            model.load_state_dict(saved["ema"])
            return float(saved["seconds"])
        started = time.perf_counter()
        trainer = DetectionTrainer(overrides={
            **self._common(), "model": self.model_yaml, "epochs": recipe.epochs, "batch": recipe.batch_size,
            "optimizer": {"sgd": "SGD", "adamw": "AdamW"}[recipe.optimizer], "lr0": recipe.lr,
            "momentum": recipe.momentum, "weight_decay": recipe.weight_decay, "warmup_epochs": recipe.warmup_epochs,
            "cos_lr": True, "seed": seed, "deterministic": True, "amp": self.device.type == "cuda", "val": False,
            "save": False, "project": str(self.project), "name": desc.replace(" ", "-"), "exist_ok": True,
        })
        trainer.model = model  # train this module, not a fresh one built from the YAML
        hooks = current_hooks()
        trainer.add_callback("on_train_epoch_start", lambda t: hooks.progress(
            desc, t.epoch + 1, recipe.epochs, t.epoch / recipe.epochs))
        if regularizer is not None:
            trainer.add_callback("on_pretrain_routine_end", lambda t: t.optimizer.register_step_pre_hook(
                lambda *_: regularizer.apply()))
            trainer.add_callback("on_train_epoch_end", lambda _: regularizer.epoch_end())
        earlier_seconds = 0.0 if saved is None else float(saved["seconds"])
        if saved is not None:
            log.info("%s: resuming after epoch %d of %d", desc, saved["epoch"], recipe.epochs)
            trainer.add_callback("on_pretrain_routine_end", lambda t: _restore(t, saved, regularizer))
        if checkpoint is not None:
            trainer.add_callback("on_train_epoch_end", lambda t: atomic_save({  # after the regularizer's update
                **_trainer_state(t, regularizer), "seconds": earlier_seconds + time.perf_counter() - started,
            }, checkpoint))
        trainer.train()
        trained = trainer.ema.ema if trainer.ema is not None else trainer.model
        if trained is not model:
            model.load_state_dict(trained.state_dict())
        return earlier_seconds + time.perf_counter() - started

    def evaluate(self, model: nn.Module, desc: str) -> dict[str, float]:
        from ultralytics.models.yolo.detect import DetectionValidator

        log.info("%s: ultralytics validation", desc)
        validator = DetectionValidator(args={
            **self._common(), "batch": self.eval_batch_size, "project": str(self.project), "name": "val", "exist_ok": True
        })
        was_training = model.training
        metrics = validator(model=copy.deepcopy(model).float().eval())
        model.train(was_training)
        return {name: 100.0 * float(metrics[key]) for name, key in METRIC_KEYS.items()}

    def calibration(self, config: CalibrationConfig, seed: int) -> list[Batch]:
        """Seeded training images resized to the input size and scaled to [0, 1] as ultralytics feeds them, with
        their boxes in ultralytics' batch form (``batch_idx``, ``cls``, normalized ``bboxes``)."""
        count = min(len(self.data.train_images), config.batches * config.batch_size)
        picked = torch.randperm(len(self.data.train_images), generator=torch.Generator().manual_seed(seed))[:count]
        paths = [self.data.train_images[i] for i in picked.tolist()]
        return [self._batch(paths[start : start + config.batch_size]) for start in range(0, count, config.batch_size)]

    def _batch(self, paths: list[Path]) -> Batch:
        from ultralytics.data.utils import img2label_paths

        size = list(self.input_shape[1:])
        images = torch.stack([
            resize(pil_to_tensor(Image.open(path).convert("RGB")), size, antialias=True) for path in paths
        ]).float() / 255
        rows = []
        for index, label_path in enumerate(img2label_paths([str(path) for path in paths])):
            label_file = Path(label_path)
            for line in label_file.read_text().splitlines() if label_file.is_file() else []:
                values = [float(v) for v in line.split()[:5]]
                if len(values) == 5:
                    rows.append([index, *values])
        boxes = torch.tensor(rows, dtype=torch.float32).reshape(-1, 6)
        targets = {"batch_idx": boxes[:, 0], "cls": boxes[:, 1:2], "bboxes": boxes[:, 2:6]}
        return images.to(self.device), {key: value.to(self.device) for key, value in targets.items()}


def _trainer_state(trainer: DetectionTrainer, regularizer: Regularizer | None) -> dict[str, object]:
    """What an ultralytics training needs to go on after the epoch it just finished."""
    return {
        "model": trainer.model.state_dict(), "ema": trainer.ema.ema.state_dict(), "updates": trainer.ema.updates,
        "optimizer": trainer.optimizer.state_dict(), "epoch": trainer.epoch + 1,
        "regularizer": regularizer.state_dict() if regularizer is not None else {},
    }


def _restore(trainer: DetectionTrainer, saved: dict[str, object], regularizer: Regularizer | None) -> None:
    """Put a freshly set-up ultralytics trainer back where ``saved`` left off: the loop starts at the next epoch and
    the schedule (set from ``start_epoch`` each epoch) follows."""
    trainer.model.load_state_dict(saved["model"])
    trainer.ema.ema.load_state_dict(saved["ema"])
    trainer.ema.updates = saved["updates"]
    trainer.optimizer.load_state_dict(saved["optimizer"])
    trainer.start_epoch = saved["epoch"]
    trainer.scheduler.last_epoch = trainer.start_epoch - 1
    if regularizer is not None:
        regularizer.load_state_dict(saved["regularizer"])
