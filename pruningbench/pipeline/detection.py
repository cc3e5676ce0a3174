"""The detection workload: ultralytics' trainer (its loss, augmentation and optimizer step) and validator (mAP50-95).

The pruned model is handed to ultralytics as it is: its ``DetectionTrainer`` trains the given module (no rebuild
from YAML) and the trained EMA weights are copied back into it; the validator gets a copy, because it fuses
convolutions and BatchNorms in place. Recipes map onto ultralytics' settings (SGD, ``lr0``, momentum, weight
decay, warm-up epochs, cosine schedule); sparsity regularizers and the loss-based criteria are not wired into
ultralytics' loop yet and are refused with a clear message.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from pathlib import Path

import torch
from PIL import Image
from torch import nn
from torchvision.transforms.functional import pil_to_tensor, resize

from pruningbench.config import CalibrationConfig, Recipe, RunConfig
from pruningbench.data.coco import DetectionData
from pruningbench.errors import UserError
from pruningbench.methods.importance import Batch
from pruningbench.methods.regularizers import Regularizer
from pruningbench.pipeline.workload import Workload

__all__ = ["DetectionWorkload"]

log = logging.getLogger(__name__)
MAP_KEY = "metrics/mAP50-95(B)"


class DetectionWorkload(Workload):
    """Object detection with ultralytics: mAP50-95 on the validation split, in percent."""

    metric = "mAP50-95"

    def __init__(self, data: DetectionData, config: RunConfig, device: torch.device) -> None:
        os.environ.setdefault("YOLO_OFFLINE", "1")
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

        if regularizer is not None:
            raise UserError("sparsity regularizers are not available for detection tasks yet")
        if recipe.schedule != "cosine":
            raise UserError("detection recipes use ultralytics' cosine schedule: set schedule: cosine")
        if recipe.epochs == 0:
            return 0.0
        started = time.perf_counter()
        trainer = DetectionTrainer(overrides={
            **self._common(), "model": self.model_yaml, "epochs": recipe.epochs, "batch": recipe.batch_size,
            "optimizer": "SGD", "lr0": recipe.lr, "momentum": recipe.momentum, "weight_decay": recipe.weight_decay,
            "warmup_epochs": recipe.warmup_epochs, "cos_lr": True, "seed": seed, "deterministic": True,
            "amp": self.device.type == "cuda", "val": False, "save": False, "project": str(self.project),
            "name": desc.replace(" ", "-"), "exist_ok": True,
        })
        trainer.model = model  # train this module, not a fresh one built from the YAML
        trainer.train()
        trained = trainer.ema.ema if trainer.ema is not None else trainer.model
        if trained is not model:
            model.load_state_dict(trained.state_dict())
        return time.perf_counter() - started

    def evaluate(self, model: nn.Module, desc: str) -> float:
        from ultralytics.models.yolo.detect import DetectionValidator

        log.info("%s: ultralytics validation", desc)
        validator = DetectionValidator(args={**self._common(), "batch": self.eval_batch_size})
        was_training = model.training
        metrics = validator(model=copy.deepcopy(model).float().eval())
        model.train(was_training)
        return 100.0 * float(metrics[MAP_KEY])

    def calibration(self, config: CalibrationConfig, seed: int) -> list[Batch]:
        """Seeded training images resized to the input size, scaled to [0, 1] as ultralytics feeds them; the labels
        are placeholders (the forward-only criteria ignore them, the loss-based ones refuse detection models)."""
        count = min(len(self.data.train_images), config.batches * config.batch_size)
        picked = torch.randperm(len(self.data.train_images), generator=torch.Generator().manual_seed(seed))[:count]
        size = list(self.input_shape[1:])
        images = torch.stack([
            resize(pil_to_tensor(Image.open(self.data.train_images[i]).convert("RGB")), size, antialias=True)
            for i in picked.tolist()
        ]).float() / 255
        return [
            (batch.to(self.device), torch.zeros(len(batch), dtype=torch.long, device=self.device))
            for batch in images.split(config.batch_size)
        ]
