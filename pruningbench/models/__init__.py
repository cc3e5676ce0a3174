"""Models by name: ``create_model("resnet18_cifar", num_classes=100)``, like timm's ``create_model``."""

from __future__ import annotations

import inspect
import pickle
from pathlib import Path
from typing import Protocol

from torch import nn

from pruningbench.errors import UserError, first_line
from pruningbench.registry import Registry, import_submodules

__all__ = ["MODELS", "create_model"]


class ModelBuilder(Protocol):
    """Builders of models with library weights also take ``pretrained: bool | Path`` (true: the library fetches its
    weights; a path: a weights file in the library's format); of models whose shape depends on the input size (ViT
    position embeddings), ``image_size: int | None``."""

    def __call__(self, num_classes: int, in_channels: int) -> nn.Module: ...


MODELS: Registry[ModelBuilder] = Registry("model", entry_points="pruningbench.models")


def create_model(
    name: str, num_classes: int, in_channels: int = 3, pretrained: bool | Path = False, image_size: int | None = None
) -> nn.Module:
    """Instantiate the model registered as ``name``: freshly initialized, or with its library's weights (fetched by
    the library, or read from the weights file ``pretrained`` in the library's own format)."""
    builder = MODELS.get(name)
    accepted = inspect.signature(builder).parameters
    options: dict[str, object] = {"image_size": image_size} if "image_size" in accepted else {}
    if not pretrained:
        return builder(num_classes=num_classes, in_channels=in_channels, **options)
    if "pretrained" not in accepted:
        raise UserError(f"model {name!r} has no library weights; train it or set task.base_checkpoint")
    try:
        return builder(num_classes=num_classes, in_channels=in_channels, pretrained=pretrained, **options)
    # offline, an unreadable or mismatched file, a corrupt download (ultralytics reports a bad file as TypeError)
    except (OSError, RuntimeError, EOFError, TypeError, pickle.UnpicklingError) as error:
        reason = first_line(error)
        if isinstance(pretrained, Path):
            raise UserError(f"model {name!r}: weights file {str(pretrained)!r} could not be loaded ({reason})") from None
        raise UserError(
            f"model {name!r}: its library weights could not be loaded ({reason}); connect to the internet once, "
            "or give task.pretrained the path of a weights file"
        ) from None


import_submodules(__name__)
