"""Per-sample squared gradients over the calibration set, ``sum_n (d loss_n / d theta)^2`` per parameter (the
empirical Fisher diagonal that OBD-Hessian needs). Three ways, the fastest that applies:

- **From one ordinary backward pass** (as Opacus computes per-sample gradients): in eval mode the samples of a batch
  do not interact, so the batch-summed loss's gradient at a layer's output is, row by row, each sample's own. For
  conv (``grad_out @ patches``), linear (``grad_out^T @ input``, tokens summed) and eval-mode BatchNorm
  (``sum grad_out * x_hat``, ``sum grad_out``) a sample's weight gradient follows from what the layer saw and what
  came back, a chunk of samples at a time.
- ``torch.func.vmap`` over chunks of samples, for models with other parameterised layers (ViT's LayerNorm, tokens).
- One backward pass per image, for losses vmap cannot batch (a detector's target assignment depends on the data).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from pruningbench.methods.importance import Batch
from pruningbench.methods.importance.calibration import (
    calibration_progress,
    classification_logits,
    eval_mode,
    loss_backward,
)

__all__ = ["per_sample_squared_grads"]

# Per-sample gradient elements of one layer held at once: on a CPU a chunk that stays in cache is squared and summed
# about 1.4x faster than a large one; a GPU wants few large kernels (and the bound keeps memory in check).
CHUNK_ELEMENTS = {"cpu": 1 << 22, "cuda": 1 << 26}
# Output positions from which a conv's per-sample weight gradients come from the convolution's own backward kernel
# (samples as groups) rather than unfolded patches: unfold copies the input once per kernel tap, which costs more
# than the products on large maps (3x on 32x32 maps on a CPU) and less on small ones (2x faster on 4x4).
GROUPED_FROM_POSITIONS = 256


def per_sample_squared_grads(model: nn.Module, batches: list[Batch], chunk: int = 16) -> dict[str, torch.Tensor]:
    """``sum_n (d loss_n / d theta)^2`` over every calibration sample, per parameter name."""
    if isinstance(batches[0][1], dict):
        return _looped_squared_grads(model, batches)
    with torch.no_grad(), eval_mode(model):
        classification_logits(model(batches[0][0][:1]))
    if layer_hooks_apply(model):
        return _hooked_squared_grads(model, batches)
    return _vmapped_squared_grads(model, batches, chunk)


def layer_hooks_apply(model: nn.Module) -> bool:
    """Whether every parameter belongs to one conv (ungrouped, zero-padded by numbers), linear or BatchNorm2d with
    running statistics, and no parameter is shared between modules."""
    seen: set[int] = set()
    for module in model.modules():
        own = list(module.parameters(recurse=False))
        if not own:
            continue
        if any(id(p) in seen for p in own):
            return False
        seen.update(id(p) for p in own)
        if isinstance(module, nn.Conv2d):
            if module.groups != 1 or module.padding_mode != "zeros" or isinstance(module.padding, str):
                return False
        elif isinstance(module, nn.BatchNorm2d):
            if module.running_mean is None:
                return False
        elif not isinstance(module, nn.Linear):
            return False
    return True


def _hooked_squared_grads(model: nn.Module, batches: list[Batch]) -> dict[str, torch.Tensor]:
    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear | nn.BatchNorm2d)]
    layers = [m for m in layers if any(True for _ in m.parameters(recurse=False))]
    names = {id(p): name for name, p in model.named_parameters()}
    squared = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    calls: dict[nn.Module, list[list[torch.Tensor]]] = {}

    def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        call = [inputs[0].detach()]
        calls.setdefault(module, []).append(call)
        output.register_hook(lambda gradient: call.append(gradient.detach()))

    handles = [layer.register_forward_hook(record) for layer in layers]
    try:
        with eval_mode(model):
            for images, labels in calibration_progress(batches, "per-sample gradients"):
                calls.clear()
                images = images.detach().requires_grad_(True)  # every layer's output then carries a gradient
                loss = F.cross_entropy(classification_logits(model(images)), labels, reduction="sum")
                torch.autograd.grad(loss, images)  # the output hooks collect what comes back; no weight gradients
                for layer, layer_calls in calls.items():
                    reached = [call for call in layer_calls if len(call) == 2]  # an unused output gets no gradient
                    if not reached:
                        continue
                    for chunk in _chunks(len(images), layer, images.device):
                        per_sample = [_layer_grads(layer, x[chunk], g[chunk]) for x, g in reached]
                        for index, parameter in enumerate(layer.parameters(recurse=False)):
                            total = per_sample[0][index]
                            for grads in per_sample[1:]:
                                total = total + grads[index]
                            _add_squares(squared[names[id(parameter)]], total)
    finally:
        for handle in handles:
            handle.remove()
    return squared


def _chunks(samples: int, layer: nn.Module, device: torch.device) -> Iterator[slice]:
    elements = CHUNK_ELEMENTS.get(device.type, CHUNK_ELEMENTS["cuda"])
    size = max(1, elements // max(p.numel() for p in layer.parameters(recurse=False)))
    return (slice(start, start + size) for start in range(0, samples, size))


def _layer_grads(layer: nn.Module, x: torch.Tensor, out_grad: torch.Tensor) -> list[torch.Tensor]:
    """Per-sample gradients ``[samples, *shape]`` of ``layer``'s own parameters, in ``parameters()`` order."""
    n = len(x)
    if isinstance(layer, nn.Conv2d):
        return [_conv_weight_grads(layer, x, out_grad)] + ([out_grad.sum((2, 3))] if layer.bias is not None else [])
    if isinstance(layer, nn.Linear):
        tokens_in = x.reshape(n, -1, layer.in_features)
        tokens_out = out_grad.reshape(n, -1, layer.out_features)
        weight = torch.bmm(tokens_out.transpose(1, 2), tokens_in)
        return [weight] + ([tokens_out.sum(1)] if layer.bias is not None else [])
    shape = (1, -1, 1, 1)
    normalized = (x - layer.running_mean.view(shape)) * torch.rsqrt(layer.running_var.view(shape) + layer.eps)
    return [(out_grad * normalized).sum((2, 3)), out_grad.sum((2, 3))] if layer.affine else []


def _add_squares(into: torch.Tensor, per_sample: torch.Tensor) -> None:
    """``into += sum_n per_sample[n]^2``. On a CPU memory traffic bounds this step, so a fused multiply-add per
    sample (one pass over each sample's gradient instead of three: square, sum, add) is 1.3-3x faster; a GPU
    prefers few large kernels to one per sample."""
    if per_sample.device.type != "cpu":
        into.add_(per_sample.square().sum(0))
        return
    for sample in per_sample:
        into.addcmul_(sample, sample)


def _conv_weight_grads(conv: nn.Conv2d, x: torch.Tensor, out_grad: torch.Tensor) -> torch.Tensor:
    """Per-sample gradients ``[n, *conv.weight.shape]`` of an ungrouped conv's weight (Rochette et al., 2019)."""
    n = len(x)
    if out_grad[0, 0].numel() < GROUPED_FROM_POSITIONS:
        patches = F.unfold(x, conv.kernel_size, conv.dilation, conv.padding, conv.stride)  # [n, C*k, L]
        return torch.bmm(out_grad.flatten(2), patches.transpose(1, 2)).view(n, *conv.weight.shape)
    # The n samples as the n groups of one grouped convolution whose weight gradient is the per-sample one.
    grouped_weight = conv.weight.new_empty(n * conv.out_channels, *conv.weight.shape[1:])  # its values are not read
    _, weight, _ = torch.ops.aten.convolution_backward(
        out_grad.reshape(1, -1, *out_grad.shape[2:]),
        x.reshape(1, -1, *x.shape[2:]),
        grouped_weight,
        None,
        conv.stride,
        conv.padding,
        conv.dilation,
        False,
        [0, 0],
        n,
        [False, True, False],
    )
    return weight.view(n, *conv.weight.shape)


def _vmapped_squared_grads(model: nn.Module, batches: list[Batch], chunk: int) -> dict[str, torch.Tensor]:
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
                one = {
                    "batch_idx": torch.zeros_like(targets["batch_idx"][mine]),
                    "cls": targets["cls"][mine],
                    "bboxes": targets["bboxes"][mine],
                }
                loss_backward(model, (images[index : index + 1], one))
                for name, param in model.named_parameters():
                    if param.grad is not None:
                        squared[name] += param.grad.pow(2)
    model.zero_grad(set_to_none=True)
    return squared
