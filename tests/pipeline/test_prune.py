import math

import pytest
import torch

from pruningbench.config import PruneConfig
from pruningbench.errors import UserError
from pruningbench.methods.importance import Criterion, create_criterion
from pruningbench.metrics import count_macs
from pruningbench.models import create_model
from pruningbench.pipeline.group import build_groups
from pruningbench.pipeline.cost import MacsModel
from pruningbench.pipeline.prune import plan_removal, prune_to_speedup, removal_order

EXAMPLE = torch.randn(1, 1, 28, 28)


def _quick():
    return create_model("resnet8_quick", num_classes=10, in_channels=1)


@pytest.mark.parametrize("name", ["resnet8_quick", "resnet18_cifar", "vgg19_cifar"])
def test_macs_model_predicts_the_pruned_models_count_exactly(name):
    model = create_model(name, num_classes=10, in_channels=1)
    example = torch.randn(1, 1, 32, 32)  # VGG's five pools need 32x32
    graph, groups = build_groups(model, example)
    macs_model = MacsModel(model, graph, groups, example)
    assert macs_model.total == count_macs(model, (1, 32, 32))
    generator = torch.Generator().manual_seed(1)
    removal = [torch.randperm(g.size, generator=generator)[: g.size // 3] for g in groups]
    flags = torch.zeros(macs_model.offsets[-1], dtype=torch.bool)
    for g, idxs in enumerate(removal):
        flags[macs_model.offsets[g] + idxs] = True
    predicted = macs_model.cost(flags)
    for group, idxs in zip(groups, removal):
        graph.get_pruning_group(group.root, group.prune_fn, idxs.tolist()).prune()
    assert predicted == pytest.approx(count_macs(model, (1, 32, 32)), rel=1e-9)


@pytest.mark.parametrize("scope", ["local", "global", "protected_global"])
@pytest.mark.parametrize("target", [2.0, 4.0, 8.0])
def test_achieved_speedup_lands_within_one_percent_above_target(scope, target):
    outcome = prune_to_speedup(_quick(), create_criterion("MagnitudeL2"), EXAMPLE, PruneConfig(speedup=target, scope=scope))
    assert target <= outcome.achieved_speedup <= 1.01 * target


def test_pruned_model_still_runs_and_shrinks():
    model = _quick()
    outcome = prune_to_speedup(model, create_criterion("MagnitudeL2"), EXAMPLE, PruneConfig(speedup=4))
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert outcome.params_after < outcome.params_before
    assert outcome.channels_after["classifier"] == 10  # outputs are never pruned
    assert sum(outcome.channels_after.values()) < sum(outcome.channels_before.values())


def test_planted_near_zero_channel_is_pruned_first():
    model = create_model("resnet18_cifar", num_classes=10, in_channels=1)
    with torch.no_grad():  # channel 7 of layers.2.0.conv1 (a 256-wide group of its own): near-zero weights
        block = model.layers[2][0]
        block.conv1.weight[7].mul_(1e-6)
        block.bn1.weight[7] = 1e-6
        block.conv2.weight[:, 7].mul_(1e-6)
    graph, groups = build_groups(model, EXAMPLE)
    scores = [create_criterion("MagnitudeL2").score(g.group) for g in groups]
    order = removal_order(scores, PruneConfig(speedup=2))
    target_group = next(i for i, g in enumerate(groups) if g.root is block.conv1)
    offset = sum(g.size for g in groups[:target_group])
    assert order[0].item() == offset + 7
    removal = plan_removal(scores, MacsModel(model, graph, groups, EXAMPLE), PruneConfig(speedup=1.05))
    assert 7 in removal[target_group].tolist()


class _Planted(Criterion):
    """Channels rank by index in every group; in the stem (1 input channel) all but the last are near-worthless,
    even after per-group mean normalization."""

    def score(self, group):
        n = len(group[0].idxs)
        if group[0].dep.target.module.in_channels == 1:
            return torch.cat([torch.arange(1, n, dtype=torch.float) * 1e-6, torch.ones(1)])
        return torch.arange(1, n + 1, dtype=torch.float)


def test_protected_global_never_leaves_a_group_below_its_share():
    model = create_model("resnet18_cifar", num_classes=10, in_channels=1)
    graph, groups = build_groups(model, EXAMPLE)
    scores = [_Planted().score(g.group) for g in groups]
    macs_model = MacsModel(model, graph, groups, EXAMPLE)
    for share in (0.1, 0.3):
        removal = plan_removal(scores, macs_model, PruneConfig(speedup=8, protected_share=share))
        for group, idxs in zip(groups, removal):
            assert group.size - len(idxs) >= math.ceil(share * group.size)
    # plain global pruning empties the planted group down to one channel; protection stops it at 10%
    stem = next(i for i, g in enumerate(groups) if g.root is model.conv1)
    unprotected = plan_removal(scores, macs_model, PruneConfig(speedup=8, scope="global"))
    assert groups[stem].size - len(unprotected[stem]) == 1
    protected = plan_removal(scores, macs_model, PruneConfig(speedup=8))
    assert groups[stem].size - len(protected[stem]) == math.ceil(0.1 * groups[stem].size)


def test_local_prunes_every_group_by_the_same_ratio():
    model = create_model("resnet18_cifar", num_classes=10, in_channels=1)
    graph, groups = build_groups(model, EXAMPLE)
    scores = [_Planted().score(g.group) for g in groups]
    removal = plan_removal(scores, MacsModel(model, graph, groups, EXAMPLE), PruneConfig(speedup=4, scope="local"))
    ratios = [len(idxs) / g.size for g, idxs in zip(groups, removal)]
    assert max(ratios) - min(ratios) <= 1 / min(g.size for g in groups) + 1e-9
    assert 0.4 < sum(ratios) / len(ratios) < 0.6  # 4x MACs ≈ half the channels everywhere
    for idxs in removal:  # each group loses its lowest-scored channels (planted: the lowest indices)
        assert idxs.tolist() == list(range(len(idxs)))


def test_unreachable_target_is_a_clear_error():
    with pytest.raises(UserError, match="out of reach under scope 'protected_global'"):
        prune_to_speedup(_quick(), create_criterion("MagnitudeL2"), EXAMPLE, PruneConfig(speedup=500, protected_share=0.5))


def test_coarse_model_with_tied_scores_still_lands_in_the_window():
    # HRank on the trained quick model: full-rank maps give every channel of a group the same score, so the
    # global order takes the late groups to their floor and the coarse 28x28 stem groups overshoot 8x (9.1x
    # before the walk-back step); restoring fine-grained late channels lands inside the window.
    model = _quick()
    graph, groups = build_groups(model, EXAMPLE)
    per_group = {"layers.2.0.shortcut.0": 7.0, "layers.1.0.shortcut.0": 13.83, "conv1": 24.9,
                 "layers.0.0.conv1": 25.4, "layers.1.0.conv1": 13.97, "layers.2.0.conv1": 7.0}
    scores = [torch.full((g.size,), per_group[g.name]) for g in groups]
    macs_model = MacsModel(model, graph, groups, EXAMPLE)
    removal = plan_removal(scores, macs_model, PruneConfig(speedup=8))
    flags = torch.zeros(macs_model.offsets[-1], dtype=torch.bool)
    for g, idxs in enumerate(removal):
        flags[macs_model.offsets[g] + idxs] = True
        assert set(idxs.tolist()) == set(range(len(idxs)))  # ties: lowest indices first  # a prefix of its ranking
    assert 8 <= macs_model.total / macs_model.cost(flags) <= 8 * 1.01


def test_planning_and_pruning_never_move_batchnorm_statistics():
    model = _quick().train()  # e.g. straight after the sparsifying stage
    prune_to_speedup(model, create_criterion("MagnitudeL2"), torch.randn(1, 1, 28, 28) * 5, PruneConfig(speedup=2))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            assert torch.all(module.running_mean == 0) and torch.all(module.running_var == 1)
    assert model.training


@pytest.mark.parametrize(("scope", "speedup"), [("protected_global", 2.0), ("global", 4.0), ("local", 2.0)])
def test_round_to_leaves_multiples_of_n_channels_and_still_reaches_the_target(scope, speedup):
    model = create_model("resnet18_cifar", num_classes=100)
    before = {name: m.out_channels for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    config = PruneConfig(speedup=speedup, scope=scope, round_to=8)
    outcome = prune_to_speedup(model, create_criterion("MagnitudeL2"), torch.randn(1, 3, 32, 32), config)
    after = {name: m.out_channels for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    assert all(width % 8 == 0 or width == before[name] for name, width in after.items())
    assert any(width < before[name] for name, width in after.items())
    assert speedup <= outcome.achieved_speedup <= speedup * 1.01


def test_round_to_must_be_positive():
    from pruningbench.config import load_preset

    with pytest.raises(UserError, match="prune.round_to: Input should be greater than or equal to 1"):
        load_preset("quickstart", {"prune.round_to": 0})
