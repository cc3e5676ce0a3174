"""Model files: atomic writes, and pruned models that load back with their pruned shapes and attributes.

A pruned model is stored as the whole pickled module (plus its registry name and shape facts): it keeps every
attribute pruning changed (a ViT's head size, a detection head's layout), which Torch-Pruning's
``state_dict``/``load_state_dict`` does not for every architecture (it fails on ultralytics' ``Detect``). Files
written by the first release (Torch-Pruning state only) still load.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch_pruning as tp
from torch import nn

from pruningbench.models import create_model
from pruningbench.models.structure import after_pruning

__all__ = ["atomic_save", "save_pruned", "load_pruned"]


def atomic_save(payload: Any, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: an interrupted write never leaves a truncated file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    os.replace(partial, path)


def save_pruned(
    model: nn.Module, path: Path, model_name: str, num_classes: int, in_channels: int, image_size: int | None = None
) -> None:
    """Save a pruned model as a whole module, with its registry name and the facts it was built from."""
    payload = {
        "model": model_name, "num_classes": num_classes, "in_channels": in_channels, "image_size": image_size,
        "module": model,
    }
    atomic_save(payload, path)


def load_pruned(path: Path) -> nn.Module:
    """Load a model saved by :func:`save_pruned`, in eval mode."""
    payload = torch.load(path, map_location="cpu", weights_only=False)  # our own file: the module is pickled
    if "module" in payload:
        return payload["module"].eval()
    model = create_model(
        payload["model"], payload["num_classes"], payload["in_channels"], image_size=payload.get("image_size")
    )
    model = tp.load_state_dict(model, payload["state"])
    after_pruning(model)
    return model.eval()
