"""NystromKernelRidge: FALKON's preconditioned CG on the Nystrom system (issue 11, item 3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.kernel_ridge import KernelRidge
from sklearn.utils.estimator_checks import parametrize_with_checks

from kdtheory.kernels import SobolevMin, gaussian, laplace
from kdtheory.nystrom import NystromKernelRidge, default_n_centers


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(20, 120), st.floats(-2, 1))
def test_all_points_as_centers_is_kernel_ridge(seed, n, log_alpha):
    """M = n: the Nystrom span is the whole RKHS span, so the solution is kernel ridge's; the
    preconditioner is then exact and CG stops at once. Tolerance: CG's relative residual 1e-12
    amplified by the condition number of the preconditioned system (near 1), plus the two
    solvers' own rounding (a backward-stable solve: c n eps cond(K + alpha I))."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, 2))
    y = np.sin(3 * X[:, 0]) + rng.normal(size=n)
    alpha = 10.0**log_alpha
    kernel = laplace(0.4)
    K = kernel(X, X)
    exact = KernelRidge(alpha=alpha, kernel="precomputed").fit(K, y)
    ny = NystromKernelRidge(kernel, n_centers=n, alpha=alpha, tol=1e-12, random_state=0)
    ny.fit(X, y)
    probe = rng.uniform(size=(15, 2))
    expected = exact.predict(kernel(probe, X))
    cond = np.linalg.cond(K + alpha * np.eye(n))
    atol = (1e-12 + 10 * n * np.finfo(float).eps * cond) * np.abs(expected).max()
    np.testing.assert_allclose(ny.predict(probe), expected, rtol=0, atol=atol)


def test_chunks_do_not_change_the_solution_and_cg_is_preconditioned():
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(3000, 3))
    y = np.cos(4 * X[:, 1]) + 0.3 * rng.normal(size=3000)
    kw = dict(kernel=gaussian(0.3), alpha=3.0, random_state=2)
    big = NystromKernelRidge(chunk_size=4096, **kw).fit(X, y)
    small = NystromKernelRidge(chunk_size=97, **kw).fit(X, y)
    # the coefficients of a Gaussian kernel's near-singular K_MM are ill-determined; the fitted
    # function is what CG's relative residual (1e-10) controls, to about that order
    p, q = big.predict(X), small.predict(X)
    assert np.abs(p - q).max() <= 1e-7 * np.abs(p).max()
    assert big.centers_.shape == (default_n_centers(3000), 3)
    # without the preconditioner CG would need about sqrt(cond) ~ hundreds of iterations
    assert big.n_iter_ <= 60


def test_one_dimensional_min_kernel_and_reproducibility():
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(500, 1))
    y = np.sqrt(X[:, 0]) + 0.1 * rng.normal(size=500)
    a = NystromKernelRidge(SobolevMin(), n_centers=60, alpha=0.5, random_state=4).fit(X, y)
    b = NystromKernelRidge(SobolevMin(), n_centers=60, alpha=0.5, random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert np.sqrt(np.mean((a.predict(X) - np.sqrt(X[:, 0])) ** 2)) < 0.05


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_centers": 0}, "n_centers must be an integer between 1 and the number of samples"),
        ({"n_centers": 31}, r"n_centers must be .* \(30\), got 31"),
        ({"n_centers": 2.5}, "n_centers must be an integer"),
        ({"alpha": 0.0}, "alpha must be a finite number > 0"),
        ({"chunk_size": 0}, "chunk_size must be an integer >= 1"),
    ],
)
def test_bad_parameters_are_named(params, match):
    X, y = np.random.default_rng(0).uniform(size=(30, 2)), np.zeros(30)
    with pytest.raises(ValueError, match=match):
        NystromKernelRidge(**params).fit(X, y)


@parametrize_with_checks([NystromKernelRidge(alpha=0.1, random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)
