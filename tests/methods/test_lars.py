"""The LARS-LASSO path's entry penalties against scikit-learn's path (the reference implementation)."""

import numpy as np
import pytest
import torch

from pruningbench.methods.importance.lars import lasso_entry_alphas

sklearn_lars = pytest.importorskip("sklearn.linear_model").lars_path_gram


def _reference(gram: np.ndarray, samples: int) -> tuple[np.ndarray, int]:
    """Entry penalties read off scikit-learn's full path (a column is non-zero from the knot after its entry), and
    how many columns left the active set somewhere along it."""
    alphas, _, coefs = sklearn_lars(Xy=gram.sum(1), Gram=gram, n_samples=samples, method="lasso", max_iter=10**6)
    nonzero = coefs != 0
    entries = np.array([alphas[row.argmax() - 1] if row.any() else 0.0 for row in nonzero])
    return entries, int((np.diff(nonzero.astype(int), axis=1) < 0).any(1).sum())


def test_entry_penalties_equal_scikit_learns_path():
    """Correlated columns (so that coefficients leave and re-enter), a zero column (never enters) and a column that
    is the sum of two others (its Cholesky pivot degenerates once both are active)."""
    drops = 0
    for seed in range(40):
        generator = torch.Generator().manual_seed(seed)
        samples, width = 60 + seed, 5 + seed % 17
        shared = torch.randn(samples, 3, generator=generator, dtype=torch.float64)
        x = shared @ torch.randn(3, width, generator=generator, dtype=torch.float64)
        x = (x + 0.4 * torch.randn(samples, width, generator=generator, dtype=torch.float64)) * torch.randn(
            width, generator=generator, dtype=torch.float64
        )
        if seed % 5 == 0:
            x[:, 1] = 0.0
        if seed % 7 == 0:
            x[:, 2] = x[:, 3] + x[:, 4]
        gram = (x.T @ x).numpy()
        expected, dropped = _reference(gram, samples)
        drops += dropped
        computed = lasso_entry_alphas(gram, gram.sum(1), samples)
        np.testing.assert_allclose(computed, expected, rtol=1e-9, atol=1e-12 * expected.max(), err_msg=f"seed {seed}")
        if seed % 5 == 0:
            assert computed[1] == 0.0
    assert drops >= 5  # the LASSO modification was exercised


def test_a_duplicate_column_is_passed_over_and_the_path_goes_on_as_without_it():
    """Its Cholesky pivot vanishes once its twin is active: it never enters, and every other column enters where it
    would without the duplicate."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(80, 8, generator=generator, dtype=torch.float64) * torch.linspace(3.0, 0.5, 8, dtype=torch.float64)
    y = x.sum(1)
    twinned = torch.cat([x[:, :1], x], dim=1)  # columns 0 and 1 the same: 0 enters, 1 is a candidate at every knot
    expected = lasso_entry_alphas((x.T @ x).numpy(), (x.T @ y).numpy(), 80)
    computed = lasso_entry_alphas((twinned.T @ twinned).numpy(), (twinned.T @ y).numpy(), 80)
    np.testing.assert_allclose(computed[2:], expected[1:], rtol=1e-6)
    assert computed[0] == pytest.approx(expected[0], rel=1e-6) and computed[1] == 0.0
    assert expected.argmax() == 0  # the twins lead the path
