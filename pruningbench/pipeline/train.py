"""The training loop shared by base training, sparsifying and finetuning: SGD with momentum or AdamW, cosine or
step schedule, label smoothing, mixup/CutMix (timm's, for ViT recipes), bf16/fp16 autocast and channels_last.

Each epoch's data order and augmentation depend only on ``(seed, epoch)``, so a run resumed from an epoch
checkpoint continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

import torch
from timm.data import Mixup
from timm.loss import SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from pruningbench.checkpoint import atomic_save
from pruningbench.config import Recipe
from pruningbench.data.resident import ResidentLoader
from pruningbench.errors import UserError
from pruningbench.methods.regularizers import Regularizer
from pruningbench.pipeline.hooks import current_hooks
from pruningbench.seeding import seed_everything

__all__ = ["data_parallel_rank", "train", "training_precision"]


def _optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """SGD over every parameter (the CIFAR recipes' weight decay covers all of them), or AdamW through timm, which
    exempts biases, norm layers and a ViT's tokens/position embedding from weight decay as DeiT's recipe does."""
    if recipe.optimizer == "adamw":
        return create_optimizer_v2(
            model, "adamw", lr=recipe.lr, weight_decay=recipe.weight_decay, betas=(recipe.momentum, 0.999)
        )
    return torch.optim.SGD(
        model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay, nesterov=False
    )


def _mixing(recipe: Recipe, num_classes: int | None) -> Mixup | None:
    """timm's batch mixup/CutMix (one of the two per batch, equally likely, when both are on), or None when off."""
    if not (recipe.mixup or recipe.cutmix):
        return None
    if num_classes is None:
        raise ValueError("mixup and CutMix need the number of classes")
    return Mixup(
        mixup_alpha=recipe.mixup,
        cutmix_alpha=recipe.cutmix,
        label_smoothing=recipe.label_smoothing,
        num_classes=num_classes,
    )


def _scheduler(
    optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-iteration schedule: optional linear warm-up, then cosine to zero over the remaining steps, or ×gamma at
    each milestone epoch (milestones count from the start of training)."""
    warmup = min(recipe.warmup_epochs, recipe.epochs) * steps_per_epoch
    if recipe.schedule == "cosine":
        main = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(recipe.epochs * steps_per_epoch - warmup, 1)
        )
    else:
        milestones = [max(epoch * steps_per_epoch - warmup, 0) for epoch in recipe.milestones]
        main = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=recipe.gamma)
    if not warmup:
        return main
    ramp = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=warmup)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [ramp, main], milestones=[warmup])


def train(
    model: nn.Module,
    loader: DataLoader | ResidentLoader,
    recipe: Recipe,
    device: torch.device,
    desc: str,
    seed: int = 0,
    regularizer: Regularizer | None = None,
    checkpoint: Path | None = None,
    num_classes: int | None = None,
) -> float:
    """Train ``model`` in place for ``recipe.epochs`` epochs of ``loader``; the training seconds, all sessions summed.

    ``regularizer`` (already attached to ``model``) adds its penalty gradient before every optimizer step. With
    ``checkpoint``, the state after every epoch is saved there and a later call resumes after the last saved epoch;
    the caller deletes the file once the result is safely stored. The optimizer is built here, from the model's
    current parameters, because pruning replaces Parameter objects. Mixup/CutMix need ``num_classes`` and full
    batches (even sizes): the loader drops its last partial batch.
    """
    optimizer = _optimizer(model, recipe)
    scheduler = _scheduler(optimizer, recipe, len(loader))
    precision = _Precision(recipe, device)
    start_epoch, earlier_seconds = 0, 0.0
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if regularizer is not None:
            regularizer.load_state_dict(state["regularizer"])
        precision.scaler.load_state_dict(state.get("scaler", {}))
        start_epoch, earlier_seconds = state["epoch"], state["seconds"]
    started = time.perf_counter()
    if recipe.channels_last:  # after pruning (Torch-Pruning's new weights are contiguous), before the optimizer steps
        model.to(memory_format=torch.channels_last)
    lead = data_parallel_rank() in (None, 0)  # the process that reports progress and writes checkpoints
    forward = _data_parallel(model, device) if data_parallel_rank() is not None else model
    mixing = _mixing(recipe, num_classes)
    loss_fn = (
        nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing) if mixing is None else SoftTargetCrossEntropy()
    )
    model.train()
    hooks = current_hooks()
    for epoch in range(start_epoch, recipe.epochs):
        _seed_epoch(loader, seed, epoch)
        quiet = {} if lead else {"disable": True}  # one progress bar for all data-parallel processes
        progress = tqdm(loader, desc=f"{desc} {epoch + 1}/{recipe.epochs}", leave=False, mininterval=1.0, **quiet)
        for step, (images, labels) in enumerate(progress):
            hooks.progress(desc, epoch + 1, recipe.epochs, (epoch + step / len(loader)) / recipe.epochs)
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            if recipe.channels_last and images.dim() == 4:
                images = images.contiguous(memory_format=torch.channels_last)
            if mixing is not None:  # soft targets, label smoothing included
                images, labels = mixing(images, labels)
            with precision.autocast():
                loss = loss_fn(forward(images), labels)
            optimizer.zero_grad(set_to_none=True)
            precision.scaler.scale(loss).backward()
            if regularizer is not None:
                precision.scaler.unscale_(optimizer)  # the penalty's gradient is added to true, unscaled gradients
                regularizer.apply()
            precision.scaler.step(optimizer)
            precision.scaler.update()
            scheduler.step()
            progress.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        if regularizer is not None:
            regularizer.epoch_end()
        if checkpoint is not None and lead:
            atomic_save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "regularizer": regularizer.state_dict() if regularizer is not None else {},
                    "scaler": precision.scaler.state_dict(),
                    "epoch": epoch + 1,
                    "seconds": earlier_seconds + time.perf_counter() - started,
                },
                checkpoint,
            )
    return earlier_seconds + time.perf_counter() - started


def data_parallel_rank() -> int | None:
    """This process's rank in data-parallel training (under torchrun), or None when training alone."""
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    return torch.distributed.get_rank() if distributed else None


def _data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` for the forward pass of data-parallel training: gradients averaged over the processes (DDP), and on
    GPUs BatchNorm statistics over the global batch (SyncBatchNorm; on CPU each process normalizes its own slice).
    Parameters and buffers stay ``model``'s own, so the optimizer, regularizer and checkpoints use ``model``."""
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def training_precision(precision: str, device: torch.device) -> str:
    """The precision a recipe's ``precision`` trains in on ``device``: ``auto`` is bf16 where the device computes bf16
    natively (a CUDA GPU with bf16 units; a CPU with AMX or AVX512-BF16, which oneDNN uses for convolutions and
    matrix products), fp32 elsewhere, where emulated bf16 would be slower than fp32; other values are themselves."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported(including_emulation=False)
    else:
        native = device.type == "cpu" and (torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    return "bf16" if native else "fp32"


class _Precision:
    """A recipe's mixed precision: autocast to bf16 or fp16 (parameters, optimizer state and the loss's reduction
    stay fp32), and for fp16 a gradient scaler against underflow (a no-op otherwise)."""

    DTYPES: ClassVar[dict[str, torch.dtype]] = {"bf16": torch.bfloat16, "fp16": torch.float16}

    def __init__(self, recipe: Recipe, device: torch.device) -> None:
        precision = training_precision(recipe.precision, device)
        if precision == "fp16" and device.type != "cuda":
            raise UserError(f"precision fp16 needs a CUDA device, this run is on {device.type} (bf16 runs on CPU)")
        self.device_type, self.dtype = device.type, self.DTYPES.get(precision)
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)


def _seed_epoch(loader: DataLoader | ResidentLoader, seed: int, epoch: int) -> None:
    """Make epoch ``epoch``'s shuffling and augmentation a function of ``(seed, epoch)`` alone."""
    epoch_seed = seed * 100_003 + epoch
    seed_everything(epoch_seed)
    generator = getattr(loader, "generator", None)
    if generator is not None:
        generator.manual_seed(epoch_seed)
