"""Every criterion against a planted answer: the planted channel must rank least important, a strong one must not."""

import pytest
import torch
from torch import nn

from pruningbench.methods.importance import CRITERIA, create_criterion
from tests.methods.planted import WIDTH, batches, first_group, randomize_bn, small_net

DEAD, STRONG = 4, 1


def _score(name: str, model: nn.Module, seed: int = 0) -> torch.Tensor:
    criterion = create_criterion(name, seed)
    groups, group = first_group(model)
    if criterion.calibrated:
        criterion.prepare(model, groups, batches())
    scores = criterion.score(group)
    assert scores.shape == (WIDTH,) and torch.isfinite(scores).all() and (scores >= 0).all()
    return scores


def _dead_to_next_layer() -> nn.Module:
    """Channel DEAD feeds nothing forward (zero input slice in the next conv); STRONG dominates the next layer."""
    model = small_net()
    randomize_bn(model)
    with torch.no_grad():
        model[3].weight[:, DEAD] = 0
        model[3].weight[:, STRONG] *= 20
    return model


def test_every_listed_criterion_is_registered():
    expected = {"Random", "MagnitudeL1", "MagnitudeL2", "LAMP", "FPGM", "BNScale", "Taylor", "OBD-Hessian", "OBD-C",
                "HRank", "ThiNet", "CP"}
    assert expected <= set(CRITERIA.names())


def test_random_is_seeded():
    model = small_net()
    assert torch.equal(_score("Random", model, 3), _score("Random", model, 3))
    assert not torch.equal(_score("Random", model, 3), _score("Random", model, 4))


def test_lamp_ranks_tiny_channel_last_and_scores_the_largest_one():
    model = small_net()
    with torch.no_grad():
        for tensor in (model[0].weight[DEAD], model[3].weight[:, DEAD]):
            tensor.mul_(1e-3)
        model[1].weight[DEAD] = 1e-3
        model[0].weight[STRONG] *= 10
    scores = _score("LAMP", model)
    assert scores.argmin() == DEAD and scores.argmax() == STRONG
    assert scores[STRONG] == pytest.approx(1.0)  # the largest channel keeps all of its own mass
    assert not CRITERIA.get("LAMP").normalized


def test_fpgm_ranks_the_geometric_median_filter_last():
    """Filters c, c±v1, ..., c±v4: by symmetry c is their geometric median; the longest v is the most distinct."""
    model = small_net()
    generator = torch.Generator().manual_seed(2)
    center = torch.randn(3, 3, 3, generator=generator)
    offsets = [torch.randn(3, 3, 3, generator=generator) * scale for scale in (1.0, 1.2, 0.8, 3.0)]
    filters = [center]
    for offset in offsets:
        filters += [center + offset, center - offset]
    order = [DEAD] + [i for i in range(WIDTH) if i != DEAD]
    with torch.no_grad():
        for channel, flt in zip(order, filters):
            model[0].weight[channel] = flt
    scores = _score("FPGM", model)
    assert scores.argmin() == DEAD
    assert scores.argmax() in (order[7], order[8])  # c ± the longest offset


def test_bnscale_ranks_zero_gamma_last():
    model = small_net()
    with torch.no_grad():
        model[1].weight.fill_(1.0)
        model[1].weight[DEAD] = 0.0
        model[1].weight[STRONG] = 5.0
    scores = _score("BNScale", model)
    assert scores[DEAD] == 0 and scores.argmax() == STRONG


def test_hrank_ranks_a_constant_feature_map_last():
    model = small_net()
    with torch.no_grad():
        model[0].weight[DEAD] = 0.0
        model[0].bias[DEAD] = 1.0  # output map: constant 1 → rank 1
    scores = _score("HRank", model)
    assert scores[DEAD] == 1.0 and scores.argmin() == DEAD
    assert (scores[torch.arange(WIDTH) != DEAD] == 8.0).all()  # random 8x8 maps are full rank


@pytest.mark.parametrize("name", ["ThiNet", "CP"])
def test_reconstruction_criteria_drop_the_channel_the_next_layer_ignores(name):
    scores = _score(name, _dead_to_next_layer())
    assert scores.argmin() == DEAD and scores.argmax() == STRONG


@pytest.mark.parametrize("name", ["Taylor", "OBD-Hessian", "OBD-C"])
def test_gradient_criteria_score_a_channel_without_gradient_signal_zero(name):
    scores = _score(name, _dead_to_next_layer())
    assert scores[DEAD] == pytest.approx(0.0, abs=1e-12) and scores.argmin() == DEAD
    assert scores[STRONG] > scores.median()


@pytest.mark.parametrize("name", ["Taylor", "OBD-Hessian", "OBD-C", "HRank", "ThiNet", "CP"])
def test_data_driven_criteria_are_deterministic_and_leave_the_model_untouched(name):
    model = _dead_to_next_layer()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first, second = _score(name, model), _score(name, model)
    assert torch.equal(first, second)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
