"""Models by name: ``create_model("resnet18_cifar", num_classes=100)``, like timm's ``create_model``."""

from __future__ import annotations

from typing import Protocol

from torch import nn

from pruningbench.registry import Registry, import_submodules

__all__ = ["MODELS", "create_model"]


class ModelBuilder(Protocol):
    def __call__(self, num_classes: int, in_channels: int) -> nn.Module: ...


MODELS: Registry[ModelBuilder] = Registry("model")


def create_model(name: str, num_classes: int, in_channels: int = 3) -> nn.Module:
    """Instantiate the model registered as ``name`` with freshly initialized weights."""
    return MODELS.get(name)(num_classes=num_classes, in_channels=in_channels)


import_submodules(__name__)
