"""Tests of kdtheory.kernels (Gram matrices and Mercer spectra) and kdtheory.shift (designs)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.base import clone
from sklearn.kernel_ridge import KernelRidge

from kdtheory.kernels import (
    FiniteRankSobolev,
    PeriodicSobolev,
    SobolevMin,
    fourier_basis,
    gaussian,
    laplace,
    periodic_sobolev_eigenvalues,
    sobolev_min_eigenfunctions,
    sobolev_min_eigenvalues,
)
from kdtheory.shift import CovariateShift, TwoPieceUniform, two_piece_shift

EPS = np.finfo(float).eps
points = hnp.arrays(float, st.integers(1, 60), elements=st.floats(0.0, 1.0))


# ------------------------------------------------------------------------------ SobolevMin
@settings(max_examples=60, deadline=None)
@given(x=points, y=points)
def test_sobolev_min_gram_is_min_and_psd(x, y):
    k = SobolevMin()
    K = k(x.reshape(-1, 1))
    np.testing.assert_array_equal(K, np.minimum.outer(x, x))
    np.testing.assert_array_equal(k(x.reshape(-1, 1), y.reshape(-1, 1)), np.minimum.outer(x, y))
    np.testing.assert_array_equal(k.diag(x.reshape(-1, 1)), x)
    # PSD: min(x, x') = int_0^1 1[t < x] 1[t < x'] dt; eigvalsh is backward stable, so computed
    # eigenvalues are >= -c eps ||K||_2 with c = 10 n
    lam = np.linalg.eigvalsh(K)
    assert lam.min() >= -10 * len(x) * EPS * max(np.abs(lam).max(), 1.0)


def test_kernels_reject_multivariate_input():
    X = np.zeros((3, 2))
    for k in (SobolevMin(), PeriodicSobolev(), FiniteRankSobolev(3)):
        with pytest.raises(ValueError, match="one-dimensional inputs"):
            k(X)
    with pytest.raises(ValueError, match="rank must be >= 1"):
        FiniteRankSobolev(0)(np.zeros((2, 1)))
    with pytest.raises(ValueError, match="indexed from k = 1"):
        sobolev_min_eigenvalues([0, 1])
    with pytest.raises(ValueError, match="order must be 1 or 2"):
        PeriodicSobolev(order=3)(np.zeros((2, 1)))
    with pytest.raises(ValueError, match="frequencies must be >= 0"):
        periodic_sobolev_eigenvalues([-1])


@pytest.mark.parametrize("k", [1, 2, 5, 20])
def test_sobolev_min_eigenpairs_solve_integral_equation(k):
    # int_0^1 min(x, t) phi_k(t) dt = mu_k phi_k(x), by the midpoint rule on N cells.
    # Error bound of the midpoint rule for g(t) = min(x, t) phi_k(t): h^2 / 24 max|g''| on the
    # smooth cells (total length <= 1) and L h^2 / 4 on the one cell holding the kink t = x
    # (g Lipschitz with constant L = max|g'|). With w = (k - 1/2) pi and |phi| <= sqrt2,
    # |phi'| <= sqrt2 w, |phi''| <= sqrt2 w^2: |g'| <= sqrt2 (1 + w), |g''| <= sqrt2 (2 w + w^2).
    N = 20000
    h = 1.0 / N
    t = (np.arange(N) + 0.5) * h
    x = np.linspace(0.0, 1.0, 37)
    phi_t = sobolev_min_eigenfunctions(t, [k])[:, 0]
    lhs = np.minimum.outer(x, t) @ phi_t * h
    rhs = sobolev_min_eigenvalues(k) * sobolev_min_eigenfunctions(x, [k])[:, 0]
    w = (k - 0.5) * np.pi
    bound = h**2 * (np.sqrt(2) * (2 * w + w**2) / 24 + np.sqrt(2) * (1 + w) / 4)
    assert np.max(np.abs(lhs - rhs)) <= bound + 10 * N * EPS  # + rounding of the N-term sum
    # the bound is not vacuous: well below the size of the right-hand side
    assert bound < 1e-2 * np.max(np.abs(rhs))


def test_sobolev_min_eigenfunctions_orthonormal():
    # midpoint rule is exact to O(h^2 w^2) for products of the sines: tolerance h^2 w_max^2
    N = 4000
    t = (np.arange(N) + 0.5) / N
    ks = np.arange(1, 9)
    Phi = sobolev_min_eigenfunctions(t, ks)
    gram = Phi.T @ Phi / N
    w = (ks[-1] - 0.5) * np.pi
    np.testing.assert_allclose(gram, np.eye(len(ks)), rtol=0, atol=(2 * w / N) ** 2)
    # Mercer: sum_k mu_k phi_k(x) phi_k(x') -> min(x, x'); the tail after r terms is at most
    # 2 sum_{k > r} mu_k <= 2 / (pi^2 (r - 1/2))
    r = 2000
    x = np.linspace(0, 1, 13)
    P = sobolev_min_eigenfunctions(x, np.arange(1, r + 1))
    series = (P * sobolev_min_eigenvalues(np.arange(1, r + 1))) @ P.T
    tail = 2.0 / (np.pi**2 * (r - 0.5))
    assert np.max(np.abs(series - np.minimum.outer(x, x))) <= tail


# -------------------------------------------------------------------------- FiniteRankSobolev
@settings(max_examples=30, deadline=None)
@given(rank=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_finite_rank_sobolev_has_rank(rank, seed):
    x = np.random.default_rng(seed).random(40)
    K = FiniteRankSobolev(rank=rank)(x.reshape(-1, 1))
    assert np.linalg.matrix_rank(K, hermitian=True) == rank
    np.testing.assert_allclose(K, K.T, rtol=0, atol=0)
    np.testing.assert_allclose(
        FiniteRankSobolev(rank=rank).diag(x.reshape(-1, 1)), np.diag(K), rtol=10 * EPS
    )
    # it is the truncated Mercer series of SobolevMin: the difference is PSD with trace bounded
    # by the tail 2 sum_{k > rank} mu_k <= 2 / (pi^2 (rank - 1/2)) per diagonal entry
    D = SobolevMin()(x.reshape(-1, 1)) - K
    assert np.linalg.eigvalsh(D).min() >= -10 * len(x) * EPS
    assert np.max(np.diag(D)) <= 2.0 / (np.pi**2 * (rank - 0.5))


# ---------------------------------------------------------------------------- PeriodicSobolev
@pytest.mark.parametrize("order", [1, 2])
def test_periodic_sobolev_equals_truncated_fourier_series(order):
    x = np.linspace(0, 1, 41)
    y = np.random.default_rng(0).random(29)
    K = PeriodicSobolev(order=order)(x.reshape(-1, 1), y.reshape(-1, 1))
    N = 5000
    k = np.arange(1, N + 1)
    t = np.subtract.outer(x, y)
    series = 1.0 + np.sum(
        2.0 * np.cos(2 * np.pi * k * t[..., None]) / (2 * np.pi * k) ** (2 * order), axis=-1
    )
    # tail: sum_{k > N} 2 / (2 pi k)^(2s) <= 2 / ((2 pi)^(2s) (2s - 1) N^(2s - 1))
    tail = 2.0 / ((2 * np.pi) ** (2 * order) * (2 * order - 1) * N ** (2 * order - 1))
    assert np.max(np.abs(K - series)) <= tail + 10 * N * EPS  # + rounding of the N-term sum
    # and its Fourier-basis form: K = sum_j lambda_j e_j(x) e_j(y) with the documented eigenvalues
    F = 400
    lam = np.concatenate(
        [[1.0], np.repeat(periodic_sobolev_eigenvalues(np.arange(1, F + 1), order), 2)]
    )
    series2 = (fourier_basis(x, F) * lam) @ fourier_basis(y, F).T
    tail2 = 2.0 / ((2 * np.pi) ** (2 * order) * (2 * order - 1) * F ** (2 * order - 1))
    assert np.max(np.abs(K - series2)) <= tail2 + 10 * F * EPS
    assert PeriodicSobolev(order).eigenvalues(0) == 1.0


@pytest.mark.parametrize("order", [1, 2])
def test_periodic_sobolev_circulant_and_diag(order):
    n = 16
    X = (np.arange(n) / n).reshape(-1, 1)
    k = PeriodicSobolev(order=order)
    K = k(X)
    for i in range(n):  # circulant: each row is the first one rolled
        np.testing.assert_allclose(K[i], np.roll(K[0], i), rtol=0, atol=4 * EPS)
    np.testing.assert_array_equal(k.diag(X), np.diag(K))
    assert k.is_stationary()


# ------------------------------------------------------------------------ sklearn integration
@pytest.mark.parametrize(
    "kernel", [SobolevMin(), PeriodicSobolev(2), FiniteRankSobolev(4), laplace(0.3), gaussian(0.3)]
)
def test_kernels_work_inside_kernel_ridge(kernel):
    rng = np.random.default_rng(1)
    X, y = rng.random((20, 1)), rng.standard_normal(20)
    est = KernelRidge(alpha=0.1, kernel=kernel).fit(X, y)
    K = kernel(X)
    dual = np.linalg.solve(K + 0.1 * np.eye(20), y)
    cond = np.linalg.cond(K + 0.1 * np.eye(20))
    # two backward-stable solves: relative difference <= 2 * 10 n eps cond
    np.testing.assert_allclose(
        est.dual_coef_, dual, rtol=0, atol=20 * 20 * EPS * cond * np.abs(dual).max()
    )
    assert clone(kernel).get_params() == kernel.get_params()


def test_laplace_and_gaussian_forms():
    x = np.array([[0.0], [0.1], [0.7]])
    d = np.abs(x - x.T)
    # exp(-u) with u computed to a few roundings (distance, scaling): relative error
    # <= 4 eps (1 + u), u <= 0.7 / 0.2 (Laplace) and 0.7^2 / 0.08 (Gaussian)
    np.testing.assert_allclose(laplace(0.2)(x), np.exp(-d / 0.2), rtol=4 * EPS * (1 + 3.5))
    np.testing.assert_allclose(
        gaussian(0.2)(x), np.exp(-(d**2) / (2 * 0.04)), rtol=4 * EPS * (1 + 0.49 / 0.08)
    )


# ---------------------------------------------------------------------------------- shift
@settings(max_examples=100, deadline=None)
@given(B=st.floats(1.0, 1e6))
def test_two_piece_shift_ratio_bound(B):
    shift = two_piece_shift(B)
    # heavy = B / (1 + B) is rounded (absolute error <= 2 eps); the densities use 1 - heavy
    # = 1 / (1 + B), whose relative error is then <= 2 eps (1 + B) (cancellation); a ratio of two
    # such numbers: relative error <= 4 eps (1 + B) + a few roundings
    rel = 4 * EPS * (1 + B) + 8 * EPS
    assert shift.ratio_bound == pytest.approx(B, rel=rel)
    lr = shift.likelihood_ratio(np.array([0.1, 0.3, 0.5, 0.9]))
    np.testing.assert_allclose(lr, [1 / B, 1 / B, B, B], rtol=rel)
    assert shift.source.left_mass == pytest.approx(B / (1 + B), rel=2 * EPS)
    assert shift.target.left_mass == pytest.approx(1 / (1 + B), rel=rel)  # 1 - heavy, as above


@settings(max_examples=50, deadline=None)
@given(B=st.floats(1.0, 100.0), half_n=st.integers(1, 500))
def test_densities_integrate_to_one(B, half_n):
    shift = two_piece_shift(B)
    n_points = 2 * half_n
    quad = shift.target_quadrature(n_points)
    # piecewise constant density, no cell straddles 1/2: exact up to the rounding of the sum
    assert np.sum(quad.weights) == pytest.approx(1.0, rel=2 * n_points * EPS)
    reverse = CovariateShift(shift.target, shift.source).target_quadrature(n_points)
    assert np.sum(reverse.weights) == pytest.approx(1.0, rel=2 * n_points * EPS)
    # L2(Q) norm of the constant 1 is 1; of 1[x < 1/2] the target's left mass
    assert quad.norm2(np.ones(n_points)) == pytest.approx(1.0, rel=2 * n_points * EPS)
    left = (quad.points[:, 0] < 0.5).astype(float)
    assert quad.norm2(left) == pytest.approx(shift.target.left_mass, rel=2 * n_points * EPS)
    assert np.all(shift.source.density(np.array([-0.1, 1.1])) == 0)


@pytest.mark.parametrize("B", [1.0, 4.0, 19.0])
def test_samples_have_the_right_mass(B):
    shift = two_piece_shift(B)
    n = 20000
    X, Xt = shift.draw(np.random.default_rng(int(B)), n, n // 2)
    assert X.shape == (n, 1) and Xt.shape == (n // 2, 1)
    for sample, law in ((X, shift.source), (Xt, shift.target)):
        assert np.all((sample >= 0) & (sample <= 1))
        w, m = law.left_mass, len(sample)
        frac = np.mean(sample[:, 0] < 0.5)
        # binomial: the fraction has sd sqrt(w (1 - w) / m); 5 sd (two-sided p ~ 6e-7)
        assert abs(frac - w) <= 5 * np.sqrt(w * (1 - w) / m)
        # within each half the law is uniform: the mean of the left half is 1/4 within 5 sd
        # (sd of U[0, 1/2) is 1 / sqrt(48))
        left = sample[sample[:, 0] < 0.5, 0]
        assert abs(left.mean() - 0.25) <= 5 / np.sqrt(48 * len(left))
    X2, _ = shift.draw(np.random.default_rng(int(B)), n, n // 2)
    np.testing.assert_array_equal(X, X2)  # same seed, same design


def test_shift_errors():
    for bad in (0.5, 0.0, -2.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="ratio_bound must be a finite number >= 1"):
            two_piece_shift(bad)
    for bad in (0.0, 1.0, -0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match="left_mass must lie in"):
            TwoPieceUniform(bad)
    with pytest.raises(ValueError, match="n must be >= 1"):
        TwoPieceUniform(0.5).sample(np.random.default_rng(0), 0)
    for bad in (3, 0, 1):
        with pytest.raises(ValueError, match="n_points must be an even number >= 2"):
            two_piece_shift(2.0).target_quadrature(bad)
