"""HRank (Lin et al., "HRank: Filter Pruning using High-Rank Feature Map", CVPR 2020).

A filter whose output feature maps have low rank carries little information. Its score is the rank of its
``H x W`` output map, averaged over the calibration images, computed batch by batch for a layer's maps at once (no
feature map is kept); on a CPU the batches run side by side on single-threaded workers, because torch factorizes a
batch of small matrices one after another on one thread. The rank is ``torch.linalg.matrix_rank``'s (singular values
above ``max(H, W) * eps * s_max``, float32 eps), found without an SVD per map: see :func:`map_ranks`. Maps are
taken at the conv's output, before BatchNorm and activation (the official code hooks the activations; the conv
output is the map the filter itself generates and is defined for every architecture). Averaged over the group's conv
layers that own output channels. A group with no conv output (a ViT's linear layers produce one vector per token,
not a map) is not applicable and is refused with a one-line error; the reference's ViT board has no HRank row either.
"""

from __future__ import annotations

import math
import threading

import torch
import torch_pruning as tp
from torch import nn

from pruningbench.errors import UserError
from pruningbench.methods.importance import CRITERIA, Batch, Criterion
from pruningbench.methods.importance.calibration import batch_parallel, eval_mode, hooked
from pruningbench.methods.importance.slices import layer_slices, reduce_mean

CHUNK_BYTES = 4 * 2**20  # float64 maps per chunk: stays in cache, and the thread's buffers are reused


@CRITERIA.register("HRank")
class HRank(Criterion):
    calibrated = True

    def prepare(self, model: nn.Module, groups: list[tp.Group], batches: list[Batch]) -> None:
        convs = {s.module for g in groups for s in layer_slices(g, types=(nn.Conv2d,), sides=("out",))}
        self._rank_sum: dict[nn.Module, torch.Tensor] = {}
        self._images = sum(len(images) for images, _ in batches)
        this_batch = threading.local()  # batches may run side by side (see ``batch_parallel``)

        def record(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            this_batch.ranks[module] = map_ranks(output.detach().float()).sum(0).double().cpu()

        def batch_ranks(_position: int, batch: Batch) -> dict[nn.Module, torch.Tensor]:
            this_batch.ranks = {}
            with torch.no_grad():
                model(batch[0])
            return this_batch.ranks

        with eval_mode(model), hooked(list(convs), forward=record):
            for ranks in batch_parallel(batch_ranks, batches, "HRank"):
                for module, summed in ranks.items():  # whole numbers: the sum is exact in any order
                    self._rank_sum[module] = self._rank_sum.get(module, 0) + summed

    def score(self, group: tp.Group) -> torch.Tensor:
        slices = layer_slices(group, types=(nn.Conv2d,), sides=("out",))
        if not slices:
            raise UserError(f"HRank scores conv feature maps; {group[0].dep.target.module} outputs none")
        per_layer = [(self._rank_sum[s.module][s.idxs] / self._images, s.root_idxs) for s in slices]
        return reduce_mean(per_layer, len(group[0].idxs))


def map_ranks(maps: torch.Tensor) -> torch.Tensor:
    """The rank of each ``[..., H, W]`` float32 map, as ``torch.linalg.matrix_rank`` defines it, several times faster.

    With ``G = M^T M`` in float64 (the smaller side), a map has full rank when its smallest singular value exceeds the
    tolerance ``t = max(H, W) * eps * s_max``, i.e. when ``G - t^2 I`` is positive definite: one batched Cholesky
    decides it, with ``t`` taken from ``||M||_F >= s_max`` and the shift widened by float64's rounding bound (Gram
    product and Cholesky, Demmel 1989) so that success proves full rank. The few maps it cannot prove full rank get
    the exact count from the eigenvalues of ``G`` (``s_i^2``), accurate in float64 far below ``t^2``. Most feature
    maps are full rank, so most never need an eigen-decomposition.

    On a CPU the maps go in cache-sized chunks through buffers the thread keeps (fresh pages for every chunk cost as
    much as the Cholesky); on a GPU in one batched call.
    """
    if maps.shape[-2] < maps.shape[-1]:
        maps = maps.transpose(-1, -2)
    rows, cols = maps.shape[-2:]
    flat = maps.reshape(-1, rows, cols)
    if maps.device.type != "cpu":
        return _full_rank_or_count(flat.double()).reshape(maps.shape[:-2])
    chunks = flat.split(max(1, CHUNK_BYTES // (rows * cols * 8)))
    return torch.cat([_chunk_ranks(chunk) for chunk in chunks]).reshape(maps.shape[:-2])


class _Workspace(threading.local):
    """A thread's buffers, reused from chunk to chunk."""

    def take(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        numel = math.prod(shape)
        buffer = self.__dict__.get(name)
        if buffer is None or buffer.numel() < numel:
            buffer = self.__dict__[name] = torch.empty(numel, dtype=dtype)
        return buffer[:numel].view(shape)


_workspace = _Workspace()


def _chunk_ranks(maps: torch.Tensor) -> torch.Tensor:
    """``_full_rank_or_count`` on a chunk, in this thread's workspace."""
    return _full_rank_or_count(_workspace.take("maps", maps.shape, torch.float64).copy_(maps), _workspace)


def _full_rank_or_count(maps: torch.Tensor, workspace: _Workspace | None = None) -> torch.Tensor:
    """Ranks of float64 ``[n, rows, cols]`` maps (``rows >= cols``): the Cholesky proof, then eigenvalues for the rest.
    With a ``workspace``, the Gram matrices are computed and factorized in its buffers."""
    count, rows, cols = maps.shape
    relative = rows * torch.finfo(torch.float32).eps
    rounding = (rows + cols + 2) * torch.finfo(torch.float64).eps  # 2x the Gram's, Cholesky's and shift's bounds
    gram_out = None if workspace is None else workspace.take("gram", (count, cols, cols), torch.float64)
    shifted = torch.matmul(maps.transpose(-1, -2), maps, out=gram_out)  # the Gram matrix, shifted in place below
    diagonal = shifted.diagonal(dim1=-2, dim2=-1)
    diagonal.sub_(diagonal.sum(-1, keepdim=True) * (relative**2 + rounding))
    if workspace is None:
        _, info = torch.linalg.cholesky_ex(shifted)
    else:  # in place: the symmetric Gram matrix seen column-major, as LAPACK works (upper: ~15% faster there)
        info = workspace.take("info", (count,), torch.int32)
        torch.linalg.cholesky_ex(shifted.mT, upper=True, out=(shifted.mT, info))
    ranks = torch.full(shifted.shape[:-2], cols, dtype=torch.long, device=maps.device)
    unproven = info != 0
    if unproven.any():
        few = maps[unproven]
        singular = torch.linalg.eigvalsh(few.transpose(-1, -2) @ few).clamp_min(0).sqrt()  # ascending
        ranks[unproven] = (singular > singular[..., -1:] * relative).sum(-1)
    return ranks
