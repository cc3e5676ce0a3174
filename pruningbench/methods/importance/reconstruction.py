"""Per-channel contributions to the next layer's output, sampled on calibration data (for ThiNet and CP).

For a layer that consumes a group's channels (conv or linear, input side), a sampled output value is
``y = sum_c xhat_c`` with ``xhat_c = sum_k W[o, c, k] x[c, k]`` the part that input channel ``c`` contributes
(bias left out). Per image, ``samples_per_image`` random (output channel, position) pairs are drawn from a seeded
generator per batch; only the Gram matrix of each consumer's ``[samples, channels]`` contributions is kept
(ThiNet's greedy steps and CP's LASSO path need nothing else), accumulated batch by batch, never the feature maps.
A linear layer applied to tokens (ViT) treats tokens as positions; in an attention group only the value dimensions
reach a next layer (the projection), so query and key dimensions contribute nothing of their own and are ranked with
their head-dimension unit.
"""

from __future__ import annotations

import threading
from abc import abstractmethod

import torch
import torch_pruning as tp
from torch import nn

from pruningbench.methods.importance import Batch, Criterion
from pruningbench.methods.importance.calibration import batch_parallel, eval_mode, hooked
from pruningbench.methods.importance.slices import layer_slices

__all__ = ["ContributionSampler", "NextLayerCriterion"]


class ContributionSampler:
    """Collects, for every consuming layer of the given groups, the Gram matrix of its sampled contributions."""

    def __init__(self, seed: int, samples_per_image: int = 10) -> None:
        self.samples_per_image = samples_per_image
        self.seed = seed
        self._grams: dict[nn.Module, torch.Tensor] = {}  # float64, on the model's device
        self._samples: dict[nn.Module, int] = {}

    def collect(self, model: nn.Module, groups: list[tp.Group], batches: list[Batch]) -> None:
        """Sample every batch (side by side on a CPU, each from its own generator seeded from ``seed`` and its
        position) and add its Gram matrices up in batch order, so the sums do not depend on which thread ran what."""
        consumers = {s.module for g in groups for s in layer_slices(g, types=(nn.Conv2d, nn.Linear), sides=("in",))}
        seeds = torch.randint(2**62, (len(batches),), generator=torch.Generator().manual_seed(self.seed)).tolist()
        this_batch = threading.local()

        def record(module: nn.Module, inputs: tuple, _output: torch.Tensor) -> None:
            contributions = self._contributions(module, inputs[0].detach(), this_batch.generator)
            _add(this_batch.grams, this_batch.samples, module, contributions.T @ contributions, len(contributions))

        def sample(position: int, batch: Batch) -> tuple[dict[nn.Module, torch.Tensor], dict[nn.Module, int]]:
            this_batch.generator = torch.Generator().manual_seed(seeds[position])
            this_batch.grams, this_batch.samples = {}, {}
            with torch.no_grad():
                model(batch[0])
            return this_batch.grams, this_batch.samples

        with eval_mode(model), hooked(list(consumers), forward=record):
            for grams, samples in batch_parallel(sample, batches, "next-layer sampling"):
                for module, product in grams.items():
                    _add(self._grams, self._samples, module, product, samples[module])

    def _contributions(self, module: nn.Module, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``[samples, channels]`` float64 contributions of ``x``'s channels to random outputs of ``module``."""
        n = x.shape[0]
        m = self.samples_per_image
        if isinstance(module, nn.Conv2d):
            picked = sampled_patches(x, module, m, generator)  # [n*m, C, k]
            weight = module.weight.flatten(2)  # [O, C, k]
        else:
            tokens = x.reshape(n, -1, module.in_features)  # [n, T, C]; T = 1 for a plain feature vector
            positions = torch.randint(tokens.shape[1], (n, m), generator=generator).to(x.device)
            picked = tokens.gather(1, positions.unsqueeze(2).expand(-1, -1, tokens.shape[2]))  # [n, m, C]
            picked = picked.reshape(n * m, -1, 1)  # [n*m, C, 1]
            weight = module.weight.unsqueeze(2)  # [O, C, 1]
        outputs = torch.randint(weight.shape[0], (n * m,), generator=generator).to(x.device)
        return torch.einsum("sck,sck->sc", weight[outputs], picked).double()  # [n*m, C]

    def gram(self, group: tp.Group) -> tuple[torch.Tensor, int] | None:
        """Gram matrix ``X^T X`` of the group's channel contributions ``X`` ``[samples over all consumers,
        channels]``, and the number of samples; None if no conv/linear layer consumes the group. Each consumer's
        block adds its own Gram, accumulated batch by batch, so ``X`` is never kept."""
        size = len(group[0].idxs)
        gram = torch.zeros(size, size, dtype=torch.float64)
        samples = 0
        for slice_ in layer_slices(group, types=(nn.Conv2d, nn.Linear), sides=("in",)):
            module_gram = self._grams[slice_.module].cpu()
            block = module_gram[slice_.idxs][:, slice_.idxs]
            spread = torch.zeros(size, len(slice_.idxs), dtype=torch.float64).index_add_(0, slice_.root_idxs, block)
            gram.index_add_(1, slice_.root_idxs, spread)
            samples += self._samples[slice_.module]
        return (gram, samples) if samples else None


def _add(
    grams: dict[nn.Module, torch.Tensor],
    samples: dict[nn.Module, int],
    module: nn.Module,
    gram: torch.Tensor,
    count: int,
) -> None:
    """Add ``gram`` over ``count`` samples to ``module``'s sums (a module may run more than once per forward)."""
    grams[module] = grams[module] + gram if module in grams else gram
    samples[module] = samples.get(module, 0) + count


def sampled_patches(x: torch.Tensor, conv: nn.Conv2d, per_image: int, generator: torch.Generator) -> torch.Tensor:
    """The input patches of ``per_image`` random output positions per image, ``[n * per_image, C, kh * kw]``.

    The same patches as ``F.unfold`` followed by a gather of the positions, without unfolding every position
    (``unfold`` writes ``kh * kw`` copies of the feature map, which cost more than the forward pass itself)."""
    n, _, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    out_width = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out_height = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    positions = torch.randint(out_height * out_width, (n, per_image), generator=generator).to(x.device)
    rows = (positions // out_width).unsqueeze(2) * sh + torch.arange(kh, device=x.device) * dh  # [n, m, kh]
    cols = (positions % out_width).unsqueeze(2) * sw + torch.arange(kw, device=x.device) * dw  # [n, m, kw]
    rows, cols = rows.unsqueeze(3) - ph, cols.unsqueeze(2) - pw  # [n, m, kh, 1], [n, m, 1, kw] in x's coordinates
    inside = ((rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)).unsqueeze(4)  # elsewhere: zero padding
    images = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    patches = x[images, :, rows.clamp(0, height - 1), cols.clamp(0, width - 1)] * inside  # [n, m, kh, kw, C]
    return patches.permute(0, 1, 4, 2, 3).reshape(n * per_image, x.shape[1], kh * kw)


class NextLayerCriterion(Criterion):
    """A criterion that ranks channels from the Gram matrix of their sampled contributions to the consuming layers'
    outputs (all groups at once, so that a criterion can batch them)."""

    calibrated = True

    def prepare(self, model: nn.Module, groups: list[tp.Group], batches: list[Batch]) -> None:
        sampler = ContributionSampler(self.seed)
        sampler.collect(model, groups, batches)
        consumed = [(id(group), found) for group in groups if (found := sampler.gram(group)) is not None]
        ranks = self.rank_groups([gram for _, (gram, _) in consumed], [samples for _, (_, samples) in consumed])
        self._scores = {key: rank for (key, _), rank in zip(consumed, ranks, strict=True)}

    def score(self, group: tp.Group) -> torch.Tensor:
        if id(group) not in self._scores:
            raise ValueError("group has no consuming conv/linear layer to reconstruct")
        return self._scores[id(group)]

    @abstractmethod
    def rank_groups(self, grams: list[torch.Tensor], samples: list[int]) -> list[torch.Tensor]:
        """Per-channel scores of each group from its contributions' ``[channels, channels]`` Gram matrix and the
        number of samples behind it."""
