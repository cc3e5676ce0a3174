"""Model files: atomic writes, and pruned models in a safe format that loads back with its pruned shapes.

A pruned model is stored as its *structure* (the registry name and shape facts it was built from, every module's
width attributes and every tensor's shape) plus a plain ``state_dict``: ``torch.load(weights_only=True)`` reads it,
so loading a model never unpickles code. Loading builds the unpruned model from the registry, narrows each module
to the stored widths, loads the weights and lets the model family's structure rules update what follows from the
widths (a ViT's head size, a C2f block's split). Files of the previous release (the whole pickled module) still
load, with a one-line notice.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pruningbench.errors import UserError, first_line
from pruningbench.models import create_model
from pruningbench.models.structure import after_pruning

__all__ = ["atomic_save", "save_pruned", "load_pruned", "model_structure", "pruned_input_shape", "pruned_model_facts"]

log = logging.getLogger(__name__)

FORMAT = "pruningbench.pruned/1"
# Module attributes that pruning changes (Torch-Pruning's pruners and the structure rules), restored on load.
WIDTH_ATTRIBUTES = (
    "in_channels",
    "out_channels",
    "groups",
    "in_features",
    "out_features",
    "num_features",
    "normalized_shape",
    "num_channels",
    "num_groups",
    "embed_dim",
    "num_heads",
    "num_parameters",
)


def atomic_save(payload: Any, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: an interrupted write never leaves a truncated file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    os.replace(partial, path)


def model_structure(model: nn.Module) -> dict[str, dict[str, Any]]:
    """Every module's width attributes (ints and tuples of ints), by module name: what rebuilds the pruned shape."""
    structure = {}
    for name, module in model.named_modules():
        widths = {
            attribute: list(value) if isinstance(value, tuple) else value
            for attribute in WIDTH_ATTRIBUTES
            if isinstance(value := getattr(module, attribute, None), int | tuple) and not isinstance(value, bool)
        }
        if widths:
            structure[name] = widths
    return structure


def save_pruned(
    model: nn.Module, path: Path, model_name: str, num_classes: int, in_channels: int, image_size: int | None = None
) -> None:
    """Save a pruned model as structure + state_dict (plain tensors and numbers only)."""
    state = {key: tensor.detach().cpu() for key, tensor in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "model": model_name,
        "num_classes": num_classes,
        "in_channels": in_channels,
        "image_size": image_size,
        "structure": model_structure(model),
        "shapes": {key: list(tensor.shape) for key, tensor in state.items()},
        "state_dict": state,
    }
    atomic_save(payload, path)


def pruned_model_facts(path: Path) -> tuple[int, int, int]:
    """(classes, input channels, image size) the pruned model saved at ``path`` was built for."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    return int(payload["num_classes"]), int(payload["in_channels"]), int(payload["image_size"])


def pruned_input_shape(path: Path) -> tuple[int, int, int]:
    """The (channels, height, width) of one input of the pruned model saved at ``path``."""
    _, channels, size = pruned_model_facts(path)
    return (channels, size, size)


def load_pruned(path: Path, trusted: bool = True) -> nn.Module:
    """Load a model saved by :func:`save_pruned`, in eval mode, without unpickling code. A ``trusted`` file (this
    installation's own) may also be an earlier release's pickled module; an uploaded one never is."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not trusted:
            raise UserError(f"model file {path.name!r} is not in the safe format (it holds pickled code)") from None
        return _load_pickled_module(path)
    except Exception as error:  # a truncated or foreign file fails inside the unpickler in many ways
        raise UserError(f"model file {str(path)!r} cannot be read: {first_line(error)}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"model file {str(path)!r} is not a pruned model saved by pruningbench")
    model = create_model(
        payload["model"], payload["num_classes"], payload["in_channels"], image_size=payload["image_size"]
    )
    _narrow(model, payload["structure"], payload["shapes"])
    model.load_state_dict(payload["state_dict"])
    after_pruning(model)
    return model.eval()


def _narrow(model: nn.Module, structure: dict[str, dict[str, Any]], shapes: dict[str, list[int]]) -> None:
    """Give ``model``'s modules the stored width attributes and its tensors the stored shapes (values come next)."""
    modules = dict(model.named_modules())
    for name, widths in structure.items():
        for attribute, value in widths.items():
            setattr(modules[name], attribute, tuple(value) if isinstance(value, list) else value)
    for key, shape in shapes.items():
        owner, _, leaf = key.rpartition(".")
        module = modules[owner]
        current = getattr(module, leaf)
        if current is None or list(current.shape) == shape:
            continue
        empty = torch.empty(shape, dtype=current.dtype)
        if leaf in module._parameters:
            module._parameters[leaf] = nn.Parameter(empty, requires_grad=current.requires_grad)
        else:
            module._buffers[leaf] = empty


def _load_pickled_module(path: Path) -> nn.Module:
    """A model file of an earlier release (our own file, so unpickling it is trusted): the pickled module, or, from
    the first release, Torch-Pruning's state."""
    log.warning("model file %s is in an earlier release's pickled format; it loads, but it unpickles code", path)
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if "module" in payload:
        return payload["module"].eval()
    import torch_pruning as tp

    model = create_model(
        payload["model"], payload["num_classes"], payload["in_channels"], image_size=payload.get("image_size")
    )
    model = tp.load_state_dict(model, payload["state"])
    after_pruning(model)
    return model.eval()
