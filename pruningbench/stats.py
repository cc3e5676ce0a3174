"""Honest statistics for the leaderboards: confidence intervals over seeds, and rank tests across boards.

- :func:`mean_ci`: mean and 95% Student-t confidence half-width of a method's ΔAcc over its seeds;
- :func:`indistinguishable_ranges`: which ranks a method shares because the intervals overlap;
- :func:`average_ranks`, :func:`friedman`, :func:`nemenyi_cd`: the Friedman test over boards and the Nemenyi
  critical difference of average ranks (Demšar, "Statistical Comparisons of Classifiers over Multiple Data Sets",
  JMLR 2006), drawn as a critical-difference diagram in the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["FriedmanResult", "average_ranks", "friedman", "indistinguishable_ranges", "mean_ci", "nemenyi_cd"]


def mean_ci(values: list[float], confidence: float = 0.95) -> tuple[float, float | None]:
    """Mean and the half-width of its two-sided Student-t confidence interval (None for a single value)."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, None
    sem = float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return mean, float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1)) * sem


def indistinguishable_ranges(means: list[float], half_widths: list[float | None]) -> list[tuple[int, int]]:
    """For methods sorted best first, the 1-based range of positions whose intervals overlap each one's.

    A method without an interval (one seed) is distinguishable only by its mean, so its range is its own position
    unless another method has exactly the same mean.
    """
    spans = [(m - (h or 0.0), m + (h or 0.0)) for m, h in zip(means, half_widths)]
    ranges = []
    for low, high in spans:
        overlapping = [j for j, (other_low, other_high) in enumerate(spans) if other_low <= high and low <= other_high]
        ranges.append((min(overlapping) + 1, max(overlapping) + 1))
    return ranges


def average_ranks(scores: np.ndarray) -> np.ndarray:
    """Average rank of each method (columns) over boards (rows), rank 1 = highest score, ties share the mean rank."""
    ranks = np.vstack([stats.rankdata(-np.asarray(row, dtype=float)) for row in scores])
    return ranks.mean(axis=0)


@dataclass(frozen=True)
class FriedmanResult:
    """Friedman's chi-square over average ranks, and Iman & Davenport's F form (less conservative)."""

    chi2: float
    p_value: float
    f_statistic: float
    f_p_value: float


def friedman(mean_ranks: np.ndarray, boards: int) -> FriedmanResult:
    """The Friedman test of ``k`` methods' average ranks over ``boards`` boards (Demšar 2006, eqs. for chi2_F, F_F)."""
    k, n = len(mean_ranks), boards
    chi2 = 12 * n / (k * (k + 1)) * (float(np.sum(np.square(mean_ranks))) - k * (k + 1) ** 2 / 4)
    f_stat = (n - 1) * chi2 / (n * (k - 1) - chi2) if n * (k - 1) != chi2 else math.inf
    return FriedmanResult(
        chi2=chi2,
        p_value=float(stats.chi2.sf(chi2, k - 1)),
        f_statistic=f_stat,
        f_p_value=float(stats.f.sf(f_stat, k - 1, (k - 1) * (n - 1))),
    )


def nemenyi_cd(methods: int, boards: int, alpha: float = 0.05) -> float:
    """Critical difference of average ranks: two methods differ when their average ranks differ by more."""
    q_alpha = float(stats.studentized_range.ppf(1 - alpha, methods, np.inf)) / math.sqrt(2)
    return q_alpha * math.sqrt(methods * (methods + 1) / (6 * boards))
