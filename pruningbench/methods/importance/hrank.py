"""HRank (Lin et al., "HRank: Filter Pruning using High-Rank Feature Map", CVPR 2020).

A filter whose output feature maps have low rank carries little information. Its score is the rank of its
``H x W`` output map, averaged over the calibration images, computed batch by batch for a layer's maps at once (no
feature map is kept). The rank is ``torch.linalg.matrix_rank``'s (singular values above ``max(H, W) * eps * s_max``,
float32 eps), found without an SVD per map: see :func:`map_ranks`. Maps are taken at the conv's output, before
BatchNorm and activation (the official code hooks the activations; the conv output is the map the filter itself
generates and is defined for every architecture). Averaged over the group's conv layers that own output channels.
A group with no conv output (a ViT's linear layers produce one vector per token, not a map) is not applicable and
is refused with a one-line error; the reference's ViT board has no HRank row either.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import Executor, ThreadPoolExecutor

import torch
import torch_pruning as tp
from torch import nn

from pruningbench.errors import UserError
from pruningbench.methods.importance import CRITERIA, Batch, Criterion
from pruningbench.methods.importance.calibration import calibration_progress, eval_mode, hooked
from pruningbench.methods.importance.slices import layer_slices, reduce_mean

CHUNK_BYTES = 4 * 2**20  # float64 maps per chunk on a CPU thread: stays in cache, and its buffer is reused
_scratch = threading.local()  # each pool thread's float64 buffer


@CRITERIA.register("HRank")
class HRank(Criterion):
    calibrated = True

    def prepare(self, model: nn.Module, groups: list[tp.Group], batches: list[Batch]) -> None:
        convs = {s.module for g in groups for s in layer_slices(g, types=(nn.Conv2d,), sides=("out",))}
        self._rank_sum: dict[nn.Module, torch.Tensor] = {}
        self._images = 0
        pool = ThreadPoolExecutor(torch.get_num_threads(), thread_name_prefix="hrank")

        def record(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            ranks = map_ranks(output.detach().float(), pool).sum(0).double().cpu()
            self._rank_sum[module] = self._rank_sum.get(module, 0) + ranks

        with eval_mode(model), hooked(list(convs), forward=record), torch.no_grad(), pool:
            for images, _ in calibration_progress(batches, "HRank"):
                model(images)
                self._images += len(images)

    def score(self, group: tp.Group) -> torch.Tensor:
        slices = layer_slices(group, types=(nn.Conv2d,), sides=("out",))
        if not slices:
            raise UserError(f"HRank scores conv feature maps; {group[0].dep.target.module} outputs none")
        per_layer = [(self._rank_sum[s.module][s.idxs] / self._images, s.root_idxs) for s in slices]
        return reduce_mean(per_layer, len(group[0].idxs))


def map_ranks(maps: torch.Tensor, pool: Executor | None = None) -> torch.Tensor:
    """The rank of each ``[..., H, W]`` float32 map, as ``torch.linalg.matrix_rank`` defines it, several times faster.

    With ``G = M^T M`` in float64 (the smaller side), a map has full rank when its smallest singular value exceeds the
    tolerance ``t = max(H, W) * eps * s_max``, i.e. when ``G - t^2 I`` is positive definite: one batched Cholesky
    decides it, with ``t`` taken from ``||M||_F >= s_max`` and the shift widened by float64's rounding bound (Gram
    product and Cholesky, Demmel 1989) so that success proves full rank. The few maps it cannot prove full rank get
    the exact count from the eigenvalues of ``G`` (``s_i^2``), accurate in float64 far below ``t^2``. Most feature
    maps are full rank, so most never need an eigen-decomposition.

    On a CPU, ``pool`` spreads cache-sized chunks over its threads: torch factorizes a batch of small matrices one
    after another on one thread, so a layer's maps in chunks on every core take about half the time.
    """
    if maps.shape[-2] < maps.shape[-1]:
        maps = maps.transpose(-1, -2)
    rows, cols = maps.shape[-2:]
    flat = maps.reshape(-1, rows, cols)
    if pool is None or maps.device.type != "cpu":
        return _full_rank_or_count(flat.double()).reshape(maps.shape[:-2])
    per_chunk = min(CHUNK_BYTES // (rows * cols * 8), math.ceil(len(flat) / torch.get_num_threads()))
    chunks = pool.map(_chunk_ranks, flat.split(max(1, per_chunk)))
    return torch.cat(list(chunks)).reshape(maps.shape[:-2])


def _chunk_ranks(maps: torch.Tensor) -> torch.Tensor:
    """``_full_rank_or_count`` on a chunk copied into this thread's float64 buffer (no fresh pages per chunk)."""
    buffer = getattr(_scratch, "maps", None)
    if buffer is None or buffer.numel() < maps.numel():
        buffer = _scratch.maps = torch.empty(maps.numel(), dtype=torch.float64)
    return _full_rank_or_count(buffer[: maps.numel()].view(maps.shape).copy_(maps))


def _full_rank_or_count(maps: torch.Tensor) -> torch.Tensor:
    """Ranks of float64 ``[n, rows, cols]`` maps (``rows >= cols``): the Cholesky proof, then eigenvalues for the rest."""
    rows, cols = maps.shape[-2:]
    relative = rows * torch.finfo(torch.float32).eps
    rounding = (rows + cols + 2) * torch.finfo(torch.float64).eps  # 2x the Gram's, Cholesky's and shift's bounds
    shifted = maps.transpose(-1, -2) @ maps  # the Gram matrix, shifted in place below
    diagonal = shifted.diagonal(dim1=-2, dim2=-1)
    diagonal.sub_(diagonal.sum(-1, keepdim=True) * (relative**2 + rounding))
    _, info = torch.linalg.cholesky_ex(shifted)
    ranks = torch.full(shifted.shape[:-2], cols, dtype=torch.long, device=maps.device)
    unproven = info != 0
    if unproven.any():
        few = maps[unproven]
        singular = torch.linalg.eigvalsh(few.transpose(-1, -2) @ few).clamp_min(0).sqrt()  # ascending
        ranks[unproven] = (singular > singular[..., -1:] * relative).sum(-1)
    return ranks
