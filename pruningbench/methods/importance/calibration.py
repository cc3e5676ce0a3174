"""Passes over the calibration batches for data-driven criteria: forward hooks, gradients, per-sample gradients.

Everything runs with the model in eval mode (BatchNorm uses running statistics and is left unchanged) and
accumulates statistics batch by batch, so memory is bounded by one batch, never by the calibration set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from pruningbench.errors import UserError
from pruningbench.methods.importance import Batch

__all__ = [
    "batch_loss",
    "batch_parallel",
    "calibration_progress",
    "classification_logits",
    "eval_mode",
    "hooked",
    "loss_backward",
    "single_threaded_workers",
]

Result = TypeVar("Result")


def calibration_progress(batches: list[Batch], criterion: str) -> Iterator[Batch]:
    """The calibration batches with a progress bar (data-driven criteria can take seconds to minutes)."""
    return iter(tqdm(batches, desc=f"{criterion} calibration", leave=False, mininterval=1.0))


def batch_parallel(work: Callable[[int, Batch], Result], batches: list[Batch], criterion: str) -> Iterator[Result]:
    """``work(position, batch)`` for every calibration batch, results in batch order, with a progress bar.

    On a CPU the batches run side by side, one per torch thread, each worker running torch on one thread: work that
    torch runs on one thread anyway (a batch of small LAPACK factorizations, small gathers and products) then keeps
    every core busy, and no core spins in an OpenMP team waiting for the next op. ``work`` runs in another thread,
    so it sets its own grad mode. On a GPU, or with one thread, the batches run one after another.
    """
    threads = torch.get_num_threads()
    if not batches or batches[0][0].device.type != "cpu" or threads == 1:
        yield from (work(position, batch) for position, batch in enumerate(calibration_progress(batches, criterion)))
        return
    with single_threaded_workers(threads) as workers:
        results = workers.map(work, range(len(batches)), batches)
        yield from tqdm(results, total=len(batches), desc=f"{criterion} calibration", leave=False, mininterval=1.0)


@contextmanager
def single_threaded_workers(count: int) -> Iterator[ThreadPoolExecutor]:
    """A pool of ``count`` threads whose torch ops each run on one thread; the caller's thread count is unchanged.

    A new thread takes the count torch was last set to, so the workers are set to one and all started before the
    caller's count is set again (which is what threads started later take).
    """
    threads = torch.get_num_threads()
    started = threading.Barrier(count, timeout=60)
    with ThreadPoolExecutor(count, thread_name_prefix="calibration", initializer=_one_torch_thread) as workers:
        try:
            list(workers.map(lambda _: started.wait(), range(count)))
        finally:
            torch.set_num_threads(threads)
        yield workers


def _one_torch_thread() -> None:
    torch.get_num_threads()  # a thread's first query sets its count from the global one; the line below then holds
    torch.set_num_threads(1)


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
