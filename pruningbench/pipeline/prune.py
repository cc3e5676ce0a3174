"""Stage 3, pruning: score every group once, choose the channels to remove for a target MACs speed-up, remove them.

The removal set is found by bisection against an exact analytic MACs model of the conv/linear layers (removing
channel ``i`` of a group shrinks known in/out dimensions of known layers), instead of Torch-Pruning's repeated
``step()``: one scoring pass, no re-tracing, and the achieved speed-up lands at or just above the target.

Scopes:
- ``local``: every group loses the same share of its channels (rounded down per group);
- ``global``: one ranking over all groups of the per-group-normalized scores (score / group mean);
- ``protected_global``: global, but each group keeps at least ``ceil(protected_share * size)`` channels.
Every scope keeps at least one channel per group. Ties are broken by channel index, so results are deterministic.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch_pruning as tp
from torch import nn

from pruningbench.config import PruneConfig
from pruningbench.errors import UserError, first_line
from pruningbench.methods.importance import Batch, Criterion
from pruningbench.methods.importance.slices import layer_slices
from pruningbench.metrics import count_macs, count_params
from pruningbench.pipeline.cost import CostModel, MacsModel
from pruningbench.models.structure import after_pruning
from pruningbench.pipeline.group import ChannelGroup, build_groups
from pruningbench.pipeline.reconstruct import reconstruct_consumers

if TYPE_CHECKING:
    from pruningbench.latency.target import LatencyAim

__all__ = [
    "PruneOutcome", "PrunePlan", "SPEEDUP_TOLERANCE", "channels_of", "layer_widths",
    "plan_pruning", "plan_removal", "prune_to_speedup", "pruned_copy", "remove_channels", "removal_order",
]

SPEEDUP_TOLERANCE = 0.01  # achieved speed-up must land in [1, 1 + tolerance] x target


@dataclass(frozen=True)
class PruneOutcome:
    """What the prune stage did and what it cost."""

    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    step_time: float  # seconds spent computing importance scores
    prune_time: float  # seconds spent choosing and removing channels
    channels_before: dict[str, int]
    channels_after: dict[str, int]
    predicted_latency_speedup: float | None = None  # a latency target's: what the latency table predicted

    @property
    def achieved_speedup(self) -> float:
        return self.macs_before / self.macs_after


def layer_widths(model: nn.Module) -> dict[str, int]:
    """Output channels (conv) or features (linear) of every weight layer, by module name."""
    return {
        name: module.out_channels if isinstance(module, nn.Conv2d) else module.out_features
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    }


def normalize(scores: torch.Tensor) -> torch.Tensor:
    """Per-group normalization applied before every global ranking: divide by the group's mean score."""
    return scores / scores.mean().clamp_min(1e-12)


def _bisect(candidates: int, speedup_of: Callable[[int], float], target: float) -> int:
    """Smallest index in ``[0, candidates]`` whose speed-up reaches ``target`` (speed-up grows with the index)."""
    low, high = 0, candidates
    while low < high:
        mid = (low + high) // 2
        if speedup_of(mid) >= target:
            high = mid
        else:
            low = mid + 1
    return low


def removal_order(scores: list[torch.Tensor], config: PruneConfig, normalized: bool = True) -> list[torch.Tensor]:
    """All removable channels (indices into the concatenated groups) in blocks, least important block first, for
    ``config.scope``.

    A block is one channel, or with ``config.round_to = N`` the group's ``size mod N`` least important channels and
    then N at a time, so that any prefix of the order leaves every group a multiple of N channels (or all of them).
    Local orders blocks by the share of its group they would bring the group to, so any prefix prunes every group by
    the same ratio, within one block; global orders by the blocks' mean score, divided by the group mean when
    ``normalized`` (see :class:`Criterion`). A group's own blocks always appear in its own ranking order, and the
    channels a group must keep (its minimum rounded up to a multiple of N) never appear.
    """
    step = config.round_to
    share = 0.0 if config.scope != "protected_global" else config.protected_share
    blocks, keys, offset = [], [], 0
    for group_scores in scores:
        size = len(group_scores)
        least_first = torch.argsort(group_scores, stable=True)
        keep = 1 if config.scope == "local" else max(1, math.ceil(size * share - 1e-9))
        keep = math.ceil(keep / step) * step
        if keep < size:
            key_scores = (normalize(group_scores) if normalized else group_scores).double()
            first = size % step
            bounds = ([first] if first else []) + list(range(first + step, size - keep + 1, step))
            start = 0
            for end in bounds:
                block = least_first[start:end]
                blocks.append(block + offset)
                keys.append(end / size if config.scope == "local" else float(key_scores[block].mean()))
                start = end
        offset += size
    ranked = torch.argsort(torch.tensor(keys, dtype=torch.float64), stable=True).tolist()
    return [blocks[i] for i in ranked]


def plan_removal(
    scores: list[torch.Tensor], cost_model: CostModel, config: PruneConfig, normalized: bool = True,
    target: float | None = None,
) -> list[torch.Tensor]:
    """Indices of the units to remove from each group so the predicted speed-up lands in [1, 1.01] x ``target``
    (default: ``config.speedup``).

    Bisection finds the shortest prefix of :func:`removal_order` that reaches the target. When that prefix's last
    block overshoots the window (small models, coarse layers), the last step is redone greedily: walk on through
    the order, taking each block that keeps the speed-up below the ceiling; if that misses the window, walk back
    from the overshooting prefix, restoring the most important removed blocks (fine-grained ones such as late,
    small-map layers) while the speed-up stays at or above the target. Either way every group loses a prefix of
    its own ranking. With coarse blocks (``round_to``) the window may be out of reach: the plan then reaches the
    target as closely as the blocks allow.
    """
    order = removal_order(scores, config, normalized)
    group_of = torch.repeat_interleave(torch.arange(len(scores)), torch.tensor([len(s) for s in scores]))
    target = config.speedup if target is None else target
    ceiling = target * (1 + SPEEDUP_TOLERANCE)

    def prefix(step: int) -> torch.Tensor:
        flags = torch.zeros(len(group_of), dtype=torch.bool)
        if step:
            flags[torch.cat(order[:step])] = True
        return flags

    def speedup(flags: torch.Tensor) -> float:
        return cost_model.total / cost_model.cost(flags)

    most = speedup(prefix(len(order)))
    if most < target:
        raise UserError(
            f"prune.speedup {target:g}x is out of reach under scope {config.scope!r}: "
            f"at most {most:.2f}x while every group keeps its minimum channels"
        )
    step = _bisect(len(order), lambda k: speedup(prefix(k)), target)
    chosen = prefix(step)
    if step > 0 and speedup(chosen) > ceiling:
        adjusted = _walk_into_window(prefix(step - 1), order[step - 1 :], True, group_of, speedup, target, ceiling)
        if adjusted is None:
            adjusted = _walk_into_window(chosen, order[:step][::-1], False, group_of, speedup, target, ceiling)
        chosen = chosen if adjusted is None else adjusted
    bounds = cost_model.offsets
    return [torch.nonzero(chosen[bounds[g] : bounds[g + 1]]).squeeze(1) for g in range(len(scores))]


def _walk_into_window(
    flags: torch.Tensor,
    candidates: list[torch.Tensor],
    remove: bool,
    group_of: torch.Tensor,
    speedup: Callable[[torch.Tensor], float],
    target: float,
    ceiling: float,
) -> torch.Tensor | None:
    """Walk single-block moves into the window ``[target, ceiling]``; the flags there, or None if it is missed.

    ``remove=True`` adds candidates (least important first) while the speed-up stays below ``ceiling``;
    ``remove=False`` restores removed candidates (most important first) while it stays above ``target``. A move that
    would jump past the window is undone and blocks its group, so every group still loses a prefix of its ranking.
    """
    flags, blocked = flags.clone(), set()
    for block in candidates:
        group = int(group_of[block[0]])
        if group in blocked:
            continue
        flags[block] = remove
        reached = speedup(flags)
        if (reached > ceiling) if remove else (reached < target):
            flags[block] = not remove
            blocked.add(group)
        elif target <= reached <= ceiling:
            return flags
    return None


@dataclass
class PrunePlan:
    """The channels a criterion removes from each group for a target speed-up, before anything is removed."""

    graph: tp.DependencyGraph
    groups: list[ChannelGroup]
    removal: list[torch.Tensor]  # per group, the root-channel indices to remove (whole units)
    step_time: float  # seconds spent computing importance scores
    predicted_latency_speedup: float | None = None  # a latency target's: what the latency table predicted


def plan_pruning(
    model: nn.Module,
    criterion: Criterion,
    example: torch.Tensor,
    config: PruneConfig,
    calibration: list[Batch] | None = None,
    latency: LatencyAim | None = None,
) -> PrunePlan:
    """Group ``model``, score every group once with ``criterion`` and choose the removal set for ``config``: for a
    MACs target from the exact MACs model, for a latency target (``latency``) from a latency table and measurements."""
    if criterion.calibrated and not calibration:
        raise ValueError(f"{type(criterion).__name__} needs calibration batches")
    graph, groups = build_groups(model, example, config.attention)
    started = time.perf_counter()
    if criterion.calibrated:
        criterion.prepare(model, [group.group for group in groups], calibration)
    scores = [criterion.score(group.group).detach().float().cpu() for group in groups]
    step_time = time.perf_counter() - started
    for group, score in zip(groups, scores):
        if score.shape != (group.size,) or not torch.isfinite(score).all():
            raise RuntimeError(f"criterion {type(criterion).__name__} gave invalid scores for group {group.name}")
    unit_scores = [score[group.units].mean(1) for group, score in zip(groups, scores)]  # a unit: its channels' mean
    macs_model = MacsModel(model, graph, groups, example)
    predicted = None
    if latency is None:
        units = plan_removal(unit_scores, macs_model, config, criterion.normalized)
    else:
        units, predicted = latency.plan(model, example, groups, unit_scores, macs_model, config, criterion.normalized)
    return PrunePlan(graph, groups, channels_of(groups, units), step_time, predicted)


def channels_of(groups: list[ChannelGroup], units: list[torch.Tensor]) -> list[torch.Tensor]:
    """The root-channel indices of the chosen units of every group, sorted."""
    return [group.units[idxs].flatten().sort().values for group, idxs in zip(groups, units)]


def remove_channels(
    model: nn.Module, graph: tp.DependencyGraph, groups: list[ChannelGroup], removal: list[torch.Tensor]
) -> dict[str, list[int]]:
    """Remove ``removal``'s channels from every group of ``model`` (its own graph); the output channels each conv or
    linear layer lost, by layer name."""
    names = {module: name for name, module in model.named_modules()}
    removed_outputs: dict[str, list[int]] = {}
    for group, idxs in zip(groups, removal):
        if len(idxs):
            pruning = graph.get_pruning_group(group.root, group.prune_fn, idxs.tolist())
            for slice_ in layer_slices(pruning, types=(nn.Conv2d, nn.Linear), sides=("out",)):
                removed_outputs[names[slice_.module]] = slice_.idxs.tolist()
            pruning.prune()
            if group.on_removed is not None:
                group.on_removed(len(idxs) // group.units.shape[1])
    after_pruning(model)
    return removed_outputs


def pruned_copy(model: nn.Module, example: torch.Tensor, config: PruneConfig, removal: list[torch.Tensor]) -> nn.Module:
    """A copy of ``model`` with ``removal`` applied (grouped again: the groups are built the same way every time)."""
    copied = copy.deepcopy(model)
    graph, groups = build_groups(copied, example, config.attention)
    remove_channels(copied, graph, groups, removal)
    return copied


def prune_to_speedup(
    model: nn.Module,
    criterion: Criterion,
    example: torch.Tensor,
    config: PruneConfig,
    calibration: list[Batch] | None = None,
    latency: LatencyAim | None = None,
    original: nn.Module | None = None,
) -> PruneOutcome:
    """Prune ``model`` in place to ``config.speedup`` x fewer MACs (or x less measured latency, with ``latency``)
    using ``criterion``'s scores.

    ``calibration`` batches are required by data-driven criteria (``criterion.calibrated``) and by
    ``config.reconstruct == "least_squares"``, which refits the layers that lost inputs (time counted as prune time).
    ``original``: an unpruned copy the caller keeps anyway (read, never changed); else one is made here.
    """
    if config.reconstruct != "none" and not calibration:
        raise ValueError(f"reconstruct={config.reconstruct!r} needs calibration batches")
    if original is None:  # to refit consumers (reconstruct), or to say which group broke the model
        original = copy.deepcopy(model)
    input_shape = tuple(example.shape[1:])
    macs_before, params_before, channels_before = count_macs(model, input_shape), count_params(model), layer_widths(model)

    started = time.perf_counter()
    plan = plan_pruning(model, criterion, example, config, calibration, latency)
    removed_outputs = remove_channels(model, plan.graph, plan.groups, plan.removal)
    if config.reconstruct != "none":
        reconstruct_consumers(original, model, calibration, removed_outputs, criterion.seed)
    prune_time = time.perf_counter() - started - plan.step_time
    try:
        macs_after = count_macs(model, input_shape)  # the pruned model's first forward pass
    except Exception as error:  # noqa: BLE001 (whatever the broken model raises, the group that broke it is named)
        raise _breaking_group(original, example, config, plan, error) from None
    return PruneOutcome(
        macs_before=macs_before,
        macs_after=macs_after,
        params_before=params_before,
        params_after=count_params(model),
        step_time=plan.step_time,
        prune_time=prune_time,
        channels_before=channels_before,
        channels_after=layer_widths(model),
        predicted_latency_speedup=plan.predicted_latency_speedup,
    )


def _breaking_group(
    original: nn.Module, example: torch.Tensor, config: PruneConfig, plan: PrunePlan, error: Exception
) -> UserError:
    """The error to show when the pruned model no longer runs: DepGraph did not see how some channels are used (an
    op it does not trace, such as indexing channels by fixed positions). Each group's removal is tried alone on a
    copy of the original, and the first that breaks it is named."""
    empty = torch.tensor([], dtype=torch.long)
    for index, (group, idxs) in enumerate(zip(plan.groups, plan.removal)):
        if not len(idxs):
            continue
        alone = [idxs if i == index else empty for i in range(len(plan.removal))]
        trial = pruned_copy(original, example, config, alone).eval()
        try:
            with torch.no_grad():
                trial(example)
        except Exception as cause:  # noqa: BLE001 (as above)
            return UserError(
                f"removing channels of layer {group.name!r} breaks the model ({type(cause).__name__}: "
                f"{first_line(cause)}): Torch-Pruning's DepGraph does not follow how its channels are used; keep "
                "that layer whole (ignored_layers) or make the op traceable. The model is left partly pruned"
            )
    return UserError(f"the pruned model no longer runs ({type(error).__name__}: {first_line(error)}); no single "
                     "group's removal breaks it alone. The model is left partly pruned")
