"""Model cost and quality measures: MACs, parameter count, top-1 accuracy.

MACs are the multiply-accumulates of all matrix products and convolutions of one forward pass at batch size 1, on
the task's real input size, counted by PyTorch's ``FlopCounterMode`` (FLOPs / 2). Element-wise ops (BatchNorm, ReLU,
pooling, additions) are not MACs and are not counted; speed-ups are ratios of this count.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

__all__ = ["count_macs", "count_params", "evaluate_top1"]


@torch.no_grad()
def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Dense MACs of one forward pass on a single input of shape ``input_shape`` (C, H, W)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(1, *input_shape, device=device))
    model.train(was_training)
    return counter.get_total_flops() // 2


def count_params(model: nn.Module) -> int:
    """Number of trainable and frozen parameters."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def evaluate_top1(model: nn.Module, loader: DataLoader, device: torch.device, desc: str = "evaluate") -> float:
    """Top-1 accuracy in percent over ``loader``."""
    model.eval()
    correct = total = 0
    for images, labels in tqdm(loader, desc=desc, leave=False, mininterval=1.0):
        logits = model(images.to(device))
        correct += (logits.argmax(1).cpu() == labels).sum().item()
        total += labels.numel()
    return 100.0 * correct / max(total, 1)
