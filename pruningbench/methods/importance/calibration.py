"""Passes over the calibration batches for data-driven criteria: forward hooks, gradients, per-sample gradients.

Everything runs with the model in eval mode (BatchNorm uses running statistics and is left unchanged) and
accumulates statistics batch by batch, so memory is bounded by one batch, never by the calibration set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap
from tqdm import tqdm

from pruningbench.errors import UserError
from pruningbench.methods.importance import Batch

__all__ = ["calibration_progress", "eval_mode", "hooked", "loss_backward", "per_sample_squared_grads"]


def calibration_progress(batches: list[Batch], criterion: str) -> Iterator[Batch]:
    """The calibration batches with a progress bar (data-driven criteria can take seconds to minutes)."""
    return iter(tqdm(batches, desc=f"{criterion} calibration", leave=False, mininterval=1.0))


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the duration, then the previous mode back."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@contextmanager
def hooked(modules: list[nn.Module], forward: Callable[[nn.Module, tuple, torch.Tensor], None]) -> Iterator[None]:
    """Register the forward hook ``forward(module, inputs, output)`` on ``modules`` for the duration."""
    handles = [module.register_forward_hook(forward) for module in modules]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def classification_logits(output: object) -> torch.Tensor:
    """The model's output if it is a ``[batch, classes]`` logits tensor, which the cross-entropy loss needs."""
    if not isinstance(output, torch.Tensor) or output.dim() != 2:
        raise UserError("the loss-based criteria need class logits or a model with its own loss (ultralytics)")
    return output


def batch_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    """The task's loss, averaged over the batch's images: cross-entropy on class labels, or the model's own training
    loss for box targets (ultralytics' detection loss, whose value is summed over images)."""
    images, targets = batch
    if isinstance(targets, dict):
        if not hasattr(model, "loss"):
            raise UserError(f"{type(model).__name__} has no training loss for box targets")
        loss, _ = model.loss({"img": images, **targets})
        return loss.sum() / len(images)
    return F.cross_entropy(classification_logits(model(images)), targets)


def loss_backward(model: nn.Module, batch: Batch) -> None:
    """Fresh gradients of the batch's mean loss in every parameter's ``.grad``."""
    model.zero_grad(set_to_none=True)
    batch_loss(model, batch).backward()


def per_sample_squared_grads(model: nn.Module, batches: list[Batch], chunk: int = 16) -> dict[str, torch.Tensor]:
    """``sum_n (d loss_n / d theta)^2`` over every calibration sample, per parameter name (empirical Fisher diagonal).

    Per-sample gradients come from ``torch.func.vmap`` over chunks of ``chunk`` samples, so memory is bounded by
    ``chunk`` copies of the gradients.
    """
    if isinstance(batches[0][1], dict):
        return _looped_squared_grads(model, batches)
    with torch.no_grad(), eval_mode(model):
        classification_logits(model(batches[0][0][:1]))
    params = {name: p.detach() for name, p in model.named_parameters()}
    buffers = {name: b.detach() for name, b in model.named_buffers()}

    def sample_loss(weights: dict[str, torch.Tensor], image: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, (weights, buffers), (image.unsqueeze(0),))
        return F.cross_entropy(logits, label.unsqueeze(0))

    per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    squared = {name: torch.zeros_like(p) for name, p in params.items()}
    with eval_mode(model):
        for images, labels in calibration_progress(batches, "per-sample gradients"):
            for start in range(0, len(images), chunk):
                grads = per_sample(params, images[start : start + chunk], labels[start : start + chunk])
                for name, value in grads.items():
                    squared[name] += value.pow(2).sum(0)
    return squared


def _looped_squared_grads(model: nn.Module, batches: list[Batch]) -> dict[str, torch.Tensor]:
    """Per-sample squared gradients one image at a time, for losses ``vmap`` cannot batch (a detector's target
    assignment depends on the data)."""
    squared = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    with eval_mode(model):
        for images, targets in calibration_progress(batches, "per-sample gradients"):
            for index in range(len(images)):
                mine = targets["batch_idx"] == index
                one = {"batch_idx": torch.zeros_like(targets["batch_idx"][mine]), "cls": targets["cls"][mine],
                       "bboxes": targets["bboxes"][mine]}
                loss_backward(model, (images[index : index + 1], one))
                for name, param in model.named_parameters():
                    if param.grad is not None:
                        squared[name] += param.grad.pow(2)
    model.zero_grad(set_to_none=True)
    return squared
