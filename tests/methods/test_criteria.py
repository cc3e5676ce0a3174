"""Every criterion against a planted answer: the planted channel must rank least important, a strong one must not."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pruningbench.methods.importance import CRITERIA, create_criterion, hrank
from pruningbench.methods.importance.cp import lasso_entry_penalties
from pruningbench.methods.importance.hrank import map_ranks
from pruningbench.methods.importance.reconstruction import ContributionSampler, sampled_patches
from pruningbench.methods.importance.thinet import greedy_removal_steps
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
    expected = {
        "Random",
        "MagnitudeL1",
        "MagnitudeL2",
        "LAMP",
        "FPGM",
        "BNScale",
        "Taylor",
        "OBD-Hessian",
        "OBD-C",
        "HRank",
        "ThiNet",
        "CP",
    }
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


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv2d(3, 4, 3, padding=1),
        nn.Conv2d(3, 4, (3, 2), stride=2, padding=(1, 0), dilation=(1, 2)),
        nn.Conv2d(3, 4, 1),
    ],
)
def test_sampled_patches_are_the_unfolded_patches_at_the_drawn_positions(conv):
    x = torch.randn(2, 3, 9, 8)
    patches = F.unfold(x, conv.kernel_size, conv.dilation, conv.padding, conv.stride)  # [n, C*k, L]
    positions = torch.randint(patches.shape[2], (2, 5), generator=torch.Generator().manual_seed(3))
    expected = patches.gather(2, positions.unsqueeze(1).expand(-1, patches.shape[1], -1)).permute(0, 2, 1)
    sampled = sampled_patches(x, conv, 5, torch.Generator().manual_seed(3))
    assert torch.equal(sampled, expected.reshape(10, 3, -1))


def test_next_layer_samples_are_the_same_side_by_side_and_one_after_another():
    """Each batch draws from its own generator and the Gram matrices add up in batch order: the same bits whether the
    batches run on parallel workers (2 torch threads) or in the caller's thread (1), and the seed decides them."""
    model = small_net()
    groups, group = first_group(model)
    threads = torch.get_num_threads()
    collected = []
    for seed, count in ((3, 2), (3, 1), (4, 2)):
        torch.set_num_threads(count)
        try:
            sampler = ContributionSampler(seed)
            sampler.collect(model, groups, batches(count=4))
        finally:
            torch.set_num_threads(threads)
        collected.append(sampler.gram(group))
    (parallel, samples), (serial, serial_samples), (other_seed, _) = collected
    assert samples == serial_samples == 4 * 16 * 10  # 4 batches of 16 images, 10 samples per image, one consumer
    assert torch.equal(parallel, serial) and not torch.allclose(parallel, other_seed)


def test_thinet_greedy_order_follows_its_definition():
    """Each step removes the channel that, with those removed before, changes the sampled outputs least."""
    contributions = torch.randn(40, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    removed: list[int] = []
    for _ in range(7):
        cost = {c: contributions[:, removed + [c]].sum(1).pow(2).sum() for c in range(7) if c not in removed}
        removed.append(min(cost, key=cost.get))
    expected = torch.zeros(7)
    expected[removed] = torch.arange(1, 8, dtype=torch.float32)
    assert torch.equal(greedy_removal_steps(contributions.T @ contributions), expected)


@pytest.fixture(params=["one chunk", "chunks of 3 maps", "one batched call"])
def ranks_of(request, monkeypatch):
    """``map_ranks`` as a CPU runs it: a layer's maps in one chunk, or in chunks of 3 (the last one ragged) through
    the thread's buffers; or as a GPU runs it, in one batched call without buffers."""
    if request.param == "one batched call":
        return lambda maps: hrank._full_rank_or_count(maps.flatten(0, -3).double()).reshape(maps.shape[:-2])
    if request.param == "chunks of 3 maps":
        monkeypatch.setattr(hrank, "CHUNK_BYTES", 3 * 32 * 32 * 8)
    return map_ranks


def test_hrank_scores_are_the_mean_matrix_rank_of_the_conv_output_maps():
    """Over batches that run side by side on a CPU: every image's maps counted once, averaged over all images."""
    model = small_net()
    with torch.no_grad():
        model[0].weight[DEAD] = 0.0
        model[0].bias[DEAD] = 0.0  # rank 0 everywhere
    calibration = batches(count=5)
    calibration[1][0][:5] = 0.0  # five blank images: every other map is its bias, rank 1
    calibration[-1] = calibration[-1][0][:7], calibration[-1][1][:7]  # a smaller last batch
    with torch.no_grad():
        ranks = torch.cat([torch.linalg.matrix_rank(model[0](images)) for images, _ in calibration])
    expected = ranks.double().mean(0)
    assert expected[DEAD] == 0 and ((7 < expected) & (expected < 8)).sum() == WIDTH - 1
    criterion = create_criterion("HRank")
    groups, group = first_group(model)
    criterion.prepare(model, groups, calibration)
    assert torch.equal(criterion.score(group), expected.float())


@pytest.mark.parametrize("shape", [(4, 6, 32, 32), (4, 6, 4, 4), (3, 5, 7, 3)])
def test_hrank_map_ranks_equal_torch_matrix_rank(shape, ranks_of):
    generator = torch.Generator().manual_seed(0)
    maps = torch.relu(torch.randn(*shape, generator=generator))
    h, w = shape[-2:]
    maps[:, 0] = 1.0  # rank 1
    maps[:, 1, :, ::2] = 0.0  # half the columns zero
    maps[:, 2] = torch.randn(h, 2, generator=generator) @ torch.randn(2, w, generator=generator)  # rank 2
    maps[:, 3] = 0.0  # rank 0
    maps[:, 4] *= 1e-20  # tiny but full rank: the tolerance is relative
    assert torch.equal(ranks_of(maps), torch.linalg.matrix_rank(maps))


@pytest.mark.parametrize("size", [32, 8])
def test_hrank_map_ranks_decide_at_the_tolerance(size, ranks_of):
    """Singular values below ``s_max = 1`` all 1.2x the tolerance ``size * eps32 * s_max``: full rank; all at 1/1.2x
    of it: rank 1; half and half: half the rank. ``||M||_F`` is ``s_max`` to 1e-9 here, so the shifted Cholesky's
    bound is tight: it must not prove too much, and the eigenvalue count must not miss a value."""
    generator = torch.Generator().manual_seed(0)
    tolerance = size * torch.finfo(torch.float32).eps
    maps = []
    for above in (size, 0, size // 2):  # how many singular values are above the tolerance
        u, _ = torch.linalg.qr(torch.randn(size, size, generator=generator, dtype=torch.float64))
        v, _ = torch.linalg.qr(torch.randn(size, size, generator=generator, dtype=torch.float64))
        singular = torch.full((size,), tolerance / 1.2, dtype=torch.float64)
        singular[:above] = tolerance * 1.2
        singular[0] = 1.0
        maps.append(u @ torch.diag(singular) @ v.T)
    assert ranks_of(torch.stack(maps).float()[None]).tolist() == [[size, 1, size // 2]]


@pytest.mark.parametrize("width", [6, 600])  # 600: wider than scikit-learn's default path of 500 steps
def test_cp_scores_are_the_penalties_at_which_channels_enter_the_lasso_path(width):
    """With orthogonal columns the correlation of an inactive column with the residual never changes along the
    path, so channel ``c`` enters at ``lambda = |x_c^T y| / m`` (the penalty scaled as scikit-learn's); a zero
    column never enters."""
    m = 2 * width
    generator = torch.Generator().manual_seed(0)
    orthonormal, _ = torch.linalg.qr(torch.randn(m, width, generator=generator, dtype=torch.float64))
    weights = torch.rand(width, generator=generator, dtype=torch.float64) + 0.1
    weights *= torch.where(torch.arange(width) % 2 == 0, 1.0, -1.0)
    weights[-1] = 0.0
    contributions = orthonormal * weights  # sum over channels = the target y; the last column is zero
    computed = lasso_entry_penalties(contributions.T @ contributions, m)
    scaled = contributions / contributions.pow(2).mean().sqrt()  # the rescaling every penalty shares
    expected = (scaled.T @ scaled.sum(1)).abs() / m
    torch.testing.assert_close(computed, expected.float(), rtol=1e-5, atol=1e-7)
    assert (computed[:-1] > 0).all() and computed[-1] == 0
