"""Optional least-squares reconstruction of the layers that consume pruned channels (CP's and ThiNet's last step).

After channels are removed, each conv/linear layer that lost input channels gets new weights (and bias)
``W' = argmin ||Y - W' X||^2``, where ``Y`` are the unpruned model's outputs of that layer and ``X`` the pruned
model's inputs to it, at the same sampled positions of the calibration images (``samples_per_image`` per image,
seeded). This is He et al.'s (CP) reconstruction and subsumes ThiNet's per-channel least-squares rescaling. Layers
are refitted one after another in forward order, each on the inputs that the already-refitted layers produce, with
a small ridge term for stability. The original outputs are sampled once (``samples x kept channels`` per layer and
batch); ``X^T X`` and ``X^T Y`` are accumulated batch by batch.
Enabled by ``prune.reconstruct: least_squares`` and recorded in the result's config; the leaderboards' default
(``none``) leaves the kept weights as they are, so that only the criterion varies.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pruningbench.methods.importance import Batch
from pruningbench.methods.importance.calibration import eval_mode, hooked

__all__ = ["reconstruct_consumers"]

RIDGE = 1e-6  # relative to the mean diagonal of X^T X


def _rows(module: nn.Module, x: torch.Tensor, positions: torch.Tensor | None) -> torch.Tensor:
    """Input vectors of ``module`` as rows (conv: unfolded patches at ``positions``), float64."""
    if isinstance(module, nn.Conv2d):
        patches = F.unfold(x, module.kernel_size, module.dilation, module.padding, module.stride)  # [n, C*k, L]
        picked = patches.gather(2, positions.unsqueeze(1).expand(-1, patches.shape[1], -1))
        return picked.permute(0, 2, 1).reshape(-1, patches.shape[1]).double()
    return x.reshape(-1, x.shape[-1]).double()


def _targets(output: torch.Tensor, positions: torch.Tensor | None) -> torch.Tensor:
    """Output vectors at ``positions`` as rows (conv: flattened spatial positions), float64."""
    if output.dim() == 4:
        flat = output.flatten(2)  # [n, O, L]
        picked = flat.gather(2, positions.unsqueeze(1).expand(-1, flat.shape[1], -1))
        return picked.permute(0, 2, 1).reshape(-1, flat.shape[1]).double()
    return output.reshape(-1, output.shape[-1]).double()


@torch.no_grad()
def reconstruct_consumers(
    original: nn.Module,
    pruned: nn.Module,
    batches: list[Batch],
    removed_outputs: dict[str, list[int]],
    seed: int,
    samples_per_image: int = 10,
) -> list[str]:
    """Refit every layer of ``pruned`` whose input width shrank, in forward order; returns their names.

    ``removed_outputs`` names, per layer, the output channels pruning removed, so that each refitted layer is
    matched to the original outputs of the channels it kept.
    """
    old = dict(original.named_modules())
    layers = {
        name: module
        for name, module in pruned.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
        and getattr(module, "groups", 1) == 1
        and module.weight.shape[1] != old[name].weight.shape[1]
    }
    generator = torch.Generator().manual_seed(seed)
    names = {old[name]: name for name in layers}
    positions: dict[tuple[str, int], torch.Tensor | None] = {}
    targets: dict[tuple[str, int], torch.Tensor] = {}
    order: list[str] = []
    batch_index = 0

    def capture_target(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        name = names[module]
        key = (name, batch_index)
        if batch_index == 0:
            order.append(name)
        if output.dim() == 4:
            count = output.shape[2] * output.shape[3]
            positions[key] = torch.randint(count, (output.shape[0], samples_per_image), generator=generator).to(output.device)
        else:
            positions[key] = None
        removed = set(removed_outputs.get(name, ()))
        kept = [i for i in range(output.shape[1]) if i not in removed]
        targets[key] = _targets(output, positions[key])[:, kept].float()

    with eval_mode(original), hooked(list(names), forward=capture_target):
        for batch_index, (images, _) in enumerate(batches):
            original(images)
    with eval_mode(pruned):
        for name in order:  # each fit sees the inputs produced by the layers refitted before it
            _refit(layers[name], name, pruned, batches, positions, targets)
    return sorted(order)


def _refit(
    module: nn.Module,
    name: str,
    model: nn.Module,
    batches: list[Batch],
    positions: dict[tuple[str, int], torch.Tensor | None],
    targets: dict[tuple[str, int], torch.Tensor],
) -> None:
    """Accumulate ``X^T X`` and ``X^T Y`` for one layer over the calibration batches, then solve for its weights."""
    sums: dict[str, torch.Tensor] = {}
    batch_index = 0

    def accumulate(layer: nn.Module, inputs: tuple, _output: torch.Tensor) -> None:
        key = (name, batch_index)
        rows = _rows(layer, inputs[0], positions[key])
        if layer.bias is not None:
            rows = torch.cat([rows, torch.ones(len(rows), 1, dtype=rows.dtype, device=rows.device)], dim=1)
        sums["gram"] = sums.get("gram", 0) + rows.T @ rows
        sums["cross"] = sums.get("cross", 0) + rows.T @ targets[key].double()

    with hooked([module], forward=accumulate):
        for batch_index, (images, _) in enumerate(batches):
            model(images)
    _solve_into(module, sums["gram"], sums["cross"])


def _solve_into(module: nn.Module, gram: torch.Tensor, cross: torch.Tensor) -> None:
    """Set ``module``'s weight (and bias) to the ridge least-squares solution ``(G + rI)^-1 X^T Y``."""
    ridge = RIDGE * gram.diagonal().mean().clamp_min(1e-12)
    solution = torch.linalg.solve(gram + ridge * torch.eye(len(gram), dtype=gram.dtype, device=gram.device), cross)
    weights = solution.T  # [O, C*k (+1)]
    if module.bias is not None:
        module.bias.copy_(weights[:, -1].to(module.bias.dtype))
        weights = weights[:, :-1]
    module.weight.copy_(weights.reshape(module.weight.shape).to(module.weight.dtype))
