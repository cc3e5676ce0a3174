"""OBD-C (channel-level Optimal Brain Damage under K-FAC, the C-OBD of Wang et al., "EigenDamage", ICML 2019).

K-FAC approximates a layer's Fisher/Hessian as ``A (x) S``: ``A = E[a a^T]`` over the layer's input vectors (conv:
patches, with a constant 1 appended when the layer has a bias) and ``S = E[d d^T]`` over the gradients of the
per-sample loss with respect to the layer's outputs. Removing output channel ``i`` zeroes row ``w_i``; with OBD's
assumption that channels do not interact, the loss grows by ``1/2 S_ii w_i^T A w_i``. Since
``w_i^T A w_i = E[(w_i . a)^2] = E[y_i^2]`` (``y_i`` the channel's output), the score is computed exactly, without
forming ``A``, as ``1/2 E[d_i^2] E[y_i^2]``: output second moments over images and positions, gradient second
moments summed over positions and averaged over images. Scores are averaged over the conv/linear layers that own
the group's output channels. A linear layer applied to tokens (ViT) treats tokens as positions, like a conv's
spatial positions. Torch-Pruning's ``OBDCImportance`` uses the diagonal Fisher instead of K-FAC and
crashes on ordinary CNNs, so it is not used.
"""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch import nn

from pruningbench.methods.importance import CRITERIA, Batch, Criterion
from pruningbench.methods.importance.calibration import calibration_progress, eval_mode, hooked, loss_backward
from pruningbench.methods.importance.slices import layer_slices, reduce_mean


def _channel_dim(module: nn.Module, tensor: torch.Tensor) -> int:
    """Conv outputs carry channels in dim 1; linear outputs in the last dim (tokens, if any, act as positions)."""
    return 1 if isinstance(module, nn.Conv2d) else tensor.dim() - 1


def _channel_sum(tensor: torch.Tensor, channel_dim: int) -> torch.Tensor:
    """Sum over every dimension but the channel dimension."""
    return tensor.sum(dim=[d for d in range(tensor.dim()) if d != channel_dim]).double().cpu()


@CRITERIA.register("OBD-C")
class OBDC(Criterion):
    calibrated = True
    gradients = True

    def prepare(self, model: nn.Module, groups: list[tp.Group], batches: list[Batch]) -> None:
        layers = {s.module for g in groups for s in layer_slices(g, types=(nn.Conv2d, nn.Linear), sides=("out",))}
        self._output_sq: dict[nn.Module, torch.Tensor] = {}
        self._grad_sq: dict[nn.Module, torch.Tensor] = {}
        self._positions: dict[nn.Module, int] = {}
        self._samples = 0
        batch_size = 0

        def record(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            dim = _channel_dim(module, output)
            self._output_sq[module] = self._output_sq.get(module, 0) + _channel_sum(output.detach().pow(2), dim)
            self._positions[module] = self._positions.get(module, 0) + output.numel() // output.shape[dim]

            def record_grad(grad: torch.Tensor) -> None:
                per_sample = grad.detach() * batch_size  # d loss_n / d output: undo the batch mean
                self._grad_sq[module] = self._grad_sq.get(module, 0) + _channel_sum(per_sample.pow(2), dim)

            output.register_hook(record_grad)

        with eval_mode(model), hooked(list(layers), forward=record):
            for batch in calibration_progress(batches, "OBD-C"):
                batch_size = len(batch[1])
                loss_backward(model, batch)
                self._samples += batch_size
        model.zero_grad(set_to_none=True)

    @torch.no_grad()
    def score(self, group: tp.Group) -> torch.Tensor:
        per_layer = []
        for slice_ in layer_slices(group, types=(nn.Conv2d, nn.Linear), sides=("out",)):
            output_sq = self._output_sq[slice_.module] / self._positions[slice_.module]
            grad_sq = self._grad_sq[slice_.module] / self._samples
            per_layer.append((0.5 * grad_sq[slice_.idxs] * output_sq[slice_.idxs], slice_.root_idxs))
        return reduce_mean(per_layer, len(group[0].idxs))
