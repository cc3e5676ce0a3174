import numpy as np
import pytest

from pruningbench.stats import average_ranks, friedman, indistinguishable_ranges, mean_ci, nemenyi_cd


def test_mean_ci_matches_a_hand_computed_t_interval():
    # values 1..4: mean 2.5, sd sqrt(5/3) = 1.29099, sem 0.645497, t(0.975, 3) = 3.182446 -> half-width 2.054260
    mean, half = mean_ci([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and half == pytest.approx(2.054260, abs=1e-6)
    assert mean_ci([3.0]) == (3.0, None)


def test_average_ranks_share_ties():
    scores = np.array([[0.9, 0.8, 0.8, 0.1], [0.5, 0.7, 0.6, 0.4]])
    # board 1: ranks 1, 2.5, 2.5, 4; board 2: 3, 1, 2, 4
    assert average_ranks(scores).tolist() == [2.0, 1.75, 2.25, 4.0]


def test_friedman_and_nemenyi_reproduce_demsar_2006_worked_example():
    # Demšar (JMLR 2006), Sec. 3.2.2: four C4.5 variants over 14 data sets, average ranks 3.143, 2.000, 2.893, 1.964;
    # the paper reports chi2_F = 9.28, F_F = 3.69 and, for the Nemenyi test at alpha = 0.05, q = 2.569, CD = 1.25.
    result = friedman(np.array([3.143, 2.000, 2.893, 1.964]), boards=14)
    assert result.chi2 == pytest.approx(9.28, abs=0.01)
    assert result.f_statistic == pytest.approx(3.69, abs=0.01)
    assert result.f_p_value < 0.05
    assert nemenyi_cd(4, 14) == pytest.approx(1.25, abs=0.005)
    assert nemenyi_cd(4, 14) / np.sqrt(4 * 5 / (6 * 14)) == pytest.approx(2.569, abs=0.001)


def test_overlapping_intervals_give_rank_ranges():
    assert indistinguishable_ranges([5.0, 4.0, 1.0], [1.5, 0.1, 0.1]) == [(1, 2), (1, 2), (3, 3)]
    assert indistinguishable_ranges([5.0, 4.0], [None, None]) == [(1, 1), (2, 2)]
