"""The training loop shared by base training and finetuning: plain SGD with momentum, cosine or step schedule."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from pruningbench.config import Recipe

__all__ = ["train"]


def _scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-iteration schedule: cosine to zero over all steps, or ×gamma at each milestone epoch."""
    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(recipe.epochs * steps_per_epoch, 1))
    milestones = [epoch * steps_per_epoch for epoch in recipe.milestones]
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=recipe.gamma)


def train(model: nn.Module, loader: DataLoader, recipe: Recipe, device: torch.device, desc: str) -> None:
    """Train ``model`` in place for ``recipe.epochs`` epochs of ``loader``.

    The optimizer is built here, from the model's current parameters, because pruning replaces Parameter objects.
    """
    optimizer = torch.optim.SGD(
        model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay, nesterov=False
    )
    scheduler = _scheduler(optimizer, recipe, len(loader))
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    model.train()
    for epoch in range(recipe.epochs):
        progress = tqdm(loader, desc=f"{desc} {epoch + 1}/{recipe.epochs}", leave=False, mininterval=1.0)
        for images, labels in progress:
            loss = criterion(model(images.to(device)), labels.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            progress.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
