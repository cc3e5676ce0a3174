"""Model cost and quality measures: MACs, parameter count, top-k accuracy (measured latency: :mod:`pruningbench.latency`).

MACs are the multiply-accumulates of all matrix products and convolutions of one forward pass at batch size 1, on
the task's real input size, counted by PyTorch's ``FlopCounterMode`` (FLOPs / 2). Attention products count too: the
CPU flash-attention kernel, which the counter does not know, gets the same formula as the CUDA kernels, so a ViT's
MACs do not depend on the device they are counted on. Element-wise ops (BatchNorm, ReLU,
pooling, additions) are not MACs and are not counted; speed-ups are ratios of this count.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode, flop_registry, sdpa_flop
from tqdm import tqdm

__all__ = ["count_macs", "count_params", "evaluate_topk"]

_CPU_FLASH_ATTENTION = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
if _CPU_FLASH_ATTENTION is not None:
    flop_registry.setdefault(_CPU_FLASH_ATTENTION, sdpa_flop)


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
def evaluate_topk(
    model: nn.Module, loader: DataLoader, device: torch.device, desc: str = "evaluate", ks: tuple[int, ...] = (1, 5)
) -> dict[str, float]:
    """Top-k accuracies in percent over ``loader``, as ``{"top1": ..., "top5": ...}`` (k capped at the classes)."""
    model.eval()
    correct = {k: 0 for k in ks}
    total = 0
    for images, labels in tqdm(loader, desc=desc, leave=False, mininterval=1.0):
        logits = model(images.to(device))
        ranked = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices.cpu()
        hits = ranked == labels.cpu().unsqueeze(1)
        for k in ks:
            correct[k] += hits[:, :k].any(1).sum().item()
        total += labels.numel()
    return {f"top{k}": 100.0 * correct[k] / max(total, 1) for k in ks}
