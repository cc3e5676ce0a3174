"""Model cost and quality measures: MACs, parameter count, measured latency, top-1 accuracy.

MACs are the multiply-accumulates of all matrix products and convolutions of one forward pass at batch size 1, on
the task's real input size, counted by PyTorch's ``FlopCounterMode`` (FLOPs / 2). Attention products count too: the
CPU flash-attention kernel, which the counter does not know, gets the same formula as the CUDA kernels, so a ViT's
MACs do not depend on the device they are counted on. Element-wise ops (BatchNorm, ReLU,
pooling, additions) are not MACs and are not counted; speed-ups are ratios of this count. Measured latency shows
how much of a MACs speed-up is real on the current device.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode, flop_registry, sdpa_flop
from tqdm import tqdm

__all__ = ["Latency", "SpeedupMeasurement", "count_macs", "count_params", "evaluate_topk", "measure_speedup"]

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
        hits = ranked == labels.unsqueeze(1)
        for k in ks:
            correct[k] += hits[:, :k].any(1).sum().item()
        total += labels.numel()
    return {f"top{k}": 100.0 * correct[k] / max(total, 1) for k in ks}


@dataclass(frozen=True)
class Latency:
    """Median wall time of one forward pass of a fixed batch, and the throughput it implies."""

    median_ms: float
    throughput: float  # images per second
    batch_size: int
    device: str


@dataclass(frozen=True)
class SpeedupMeasurement:
    """Base and pruned model timed in interleaved pairs: the median of the per-pair ratios with its bootstrap 95%
    interval, and each model's median time. A noisy neighbour slows both halves of a pair alike, so the ratio holds."""

    speedup: float  # median over pairs of base time / pruned time
    low: float  # bootstrap 95% interval of that median
    high: float
    base: Latency
    pruned: Latency

    @property
    def noisy(self) -> bool:
        """The interval is wider than ±10% of the speed-up: the figure is not to be trusted."""
        return (self.high - self.low) / 2 > 0.10 * self.speedup


BOOTSTRAP_SAMPLES = 2000


@torch.no_grad()
def measure_speedup(
    base: nn.Module, pruned: nn.Module, input_shape: tuple[int, ...], batch_size: int, warmup: int, repeats: int,
    seed: int = 0, threads: int | None = None,
) -> SpeedupMeasurement:
    """Time ``repeats`` pairs of forward passes of ``base`` and ``pruned`` on the same batch, alternating which goes
    first, after ``warmup`` untimed passes of each, with ``threads`` CPU threads (None: this process's; recorded in
    the device name)."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads or previous_threads)
    try:
        return _measure_pairs(base, pruned, input_shape, batch_size, warmup, repeats, seed)
    finally:
        torch.set_num_threads(previous_threads)


def _measure_pairs(
    base: nn.Module, pruned: nn.Module, input_shape: tuple[int, ...], batch_size: int, warmup: int, repeats: int,
    seed: int,
) -> SpeedupMeasurement:
    device = next(pruned.parameters()).device
    modes = (base.training, pruned.training)
    base.eval(), pruned.eval()
    batch = torch.randn(batch_size, *input_shape, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def timed(model: nn.Module) -> float:
        sync()
        started = time.perf_counter()
        model(batch)
        sync()
        return time.perf_counter() - started

    for _ in range(warmup):
        base(batch), pruned(batch)
    pairs = []
    for index in range(repeats):
        if index % 2:
            pruned_time, base_time = timed(pruned), timed(base)
        else:
            base_time, pruned_time = timed(base), timed(pruned)
        pairs.append((base_time, pruned_time))
    base.train(modes[0]), pruned.train(modes[1])
    times = np.array(pairs)
    ratios = times[:, 0] / times[:, 1]
    resampled = np.random.default_rng(seed).choice(ratios, size=(BOOTSTRAP_SAMPLES, len(ratios)), replace=True)
    low, high = np.percentile(np.median(resampled, axis=1), [2.5, 97.5])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"

    def latency(seconds: np.ndarray) -> Latency:
        median = float(np.median(seconds))
        return Latency(median_ms=1000 * median, throughput=batch_size / median, batch_size=batch_size, device=name)

    return SpeedupMeasurement(float(np.median(ratios)), float(low), float(high), latency(times[:, 0]),
                              latency(times[:, 1]))
