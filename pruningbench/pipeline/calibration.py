"""The calibration sample that data-driven criteria score with: seeded, identical for every criterion of a seed."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from pruningbench.config import CalibrationConfig
from pruningbench.methods.importance import Batch

__all__ = ["calibration_batches"]


def calibration_batches(dataset: Dataset, config: CalibrationConfig, seed: int, device: torch.device) -> list[Batch]:
    """``config.batches`` batches of distinct training images drawn with ``seed`` (fewer if the set is smaller)."""
    count = min(len(dataset), config.batches * config.batch_size)
    picked = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:count]
    loader = DataLoader(Subset(dataset, picked.tolist()), batch_size=config.batch_size, shuffle=False)
    return [(images.to(device), labels.to(device)) for images, labels in loader]
