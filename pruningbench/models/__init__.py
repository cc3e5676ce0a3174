"""Models by name: ``create_model("resnet18_cifar", num_classes=100)``, like timm's ``create_model``."""

from __future__ import annotations

import inspect
from typing import Protocol

from torch import nn

from pruningbench.errors import UserError
from pruningbench.registry import Registry, import_submodules

__all__ = ["MODELS", "create_model"]


class ModelBuilder(Protocol):
    """Builders of models with library weights also take ``pretrained: bool``; of models whose shape depends on the
    input size (ViT position embeddings), ``image_size: int | None``."""

    def __call__(self, num_classes: int, in_channels: int) -> nn.Module: ...


MODELS: Registry[ModelBuilder] = Registry("model")


def create_model(
    name: str, num_classes: int, in_channels: int = 3, pretrained: bool = False, image_size: int | None = None
) -> nn.Module:
    """Instantiate the model registered as ``name``: freshly initialized, or with its library's weights."""
    builder = MODELS.get(name)
    accepted = inspect.signature(builder).parameters
    options: dict[str, object] = {"image_size": image_size} if "image_size" in accepted else {}
    if not pretrained:
        return builder(num_classes=num_classes, in_channels=in_channels, **options)
    if "pretrained" not in accepted:
        raise UserError(f"model {name!r} has no library weights; train it or set task.base_checkpoint")
    try:
        return builder(num_classes=num_classes, in_channels=in_channels, pretrained=True, **options)
    except (OSError, RuntimeError) as error:  # offline, no weight file, a corrupt download (hash check)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(
            f"model {name!r}: its library weights could not be loaded ({reason}); connect to the internet once, "
            "or set task.base_checkpoint to a local state_dict"
        ) from None


import_submodules(__name__)
