"""NystromKernelRidge (FALKON's preconditioned CG and the direct solve), and the Nystrom pair
path of SM and RaT."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.kernel_ridge import KernelRidge
from sklearn.utils.estimator_checks import parametrize_with_checks

from kdtheory import ResidualAsTeacher, SoftMatching
from kdtheory.kernels import SobolevMin, gaussian, laplace
from kdtheory.nystrom import (
    NystromKernelRidge,
    _upper_cholesky,
    _Whitening,
    default_n_centers,
)


@settings(max_examples=20, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(20, 120),
    st.floats(-2, 1),
    st.sampled_from(["cg", "direct"]),
)
def test_all_points_as_centers_is_kernel_ridge(seed, n, log_alpha, solver):
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
    ny = NystromKernelRidge(
        kernel, n_centers=n, alpha=alpha, tol=1e-12, random_state=0, solver=solver
    )
    ny.fit(X, y)
    probe = rng.uniform(size=(15, 2))
    expected = exact.predict(kernel(probe, X))
    cond = np.linalg.cond(K + alpha * np.eye(n))
    atol = (1e-12 + 10 * n * np.finfo(float).eps * cond) * np.abs(expected).max()
    np.testing.assert_allclose(ny.predict(probe), expected, rtol=0, atol=atol)


def _degenerate_design(kind: str, n: int, rng):
    """Designs whose centers' Gram is numerically singular: a smooth kernel on a dense 1-D
    sample, repeated points, and kernels of low rank with more centers than their rank."""
    if kind == "dense_1d_rbf":
        return rng.normal(size=(n, 1)), "rbf"
    if kind == "repeated_points":
        return np.repeat(rng.normal(size=(n // 3 + 1, 2)), 3, axis=0)[:n], "rbf"
    if kind == "linear":
        return rng.normal(size=(n, 3)), "linear"
    return rng.normal(size=(n, 2)), "poly"  # degree 3 in 2-D: rank 10


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(12, 90),
    st.floats(-6, 2),
    st.sampled_from(["dense_1d_rbf", "repeated_points", "linear", "poly"]),
)
def test_a_numerically_singular_gram_neither_crashes_nor_loses_accuracy(seed, n, log_alpha, kind):
    """The class of designs whose centers' Gram is singular to float64 (a Cholesky factor fails
    or amplifies rounding): the default estimator fits them, and with every point a center it
    is kernel ridge to the accuracy of a backward-stable solve, ``10 n eps cond(K + alpha I)``
    times the scale of the targets (the predictions ``K (K + alpha I)^{-1} y`` are bounded by
    it; a low-rank ``K`` makes them much smaller than ``y``)."""
    rng = np.random.default_rng(seed)
    X, kernel = _degenerate_design(kind, n, rng)
    y = np.sin(2 * X[:, 0]) + rng.normal(size=n)
    alpha = 10.0**log_alpha
    default = NystromKernelRidge(kernel=kernel, alpha=alpha, random_state=0).fit(X, y)
    assert default.solver_ == "direct" and np.isfinite(default.predict(X)).all()
    full = NystromKernelRidge(kernel=kernel, alpha=alpha, n_centers=n, random_state=0).fit(X, y)
    exact = KernelRidge(kernel=kernel, alpha=alpha).fit(X, y)
    K = exact._get_kernel(X)
    cond = np.linalg.cond(K + alpha * np.eye(n))
    atol = 10 * n * np.finfo(float).eps * cond * np.abs(y).max()
    np.testing.assert_allclose(full.predict(X), exact.predict(X), rtol=0, atol=atol)


@pytest.mark.parametrize("kind", ["dense_1d_rbf", "repeated_points", "linear", "poly"])
def test_cg_and_the_pair_paths_fit_a_numerically_singular_gram(kind):
    """FALKON's preconditioner raises its jitter until the Cholesky factor exists; the SM and
    RaT pairs whiten with the same eigendecomposition as the direct solve."""
    rng = np.random.default_rng(3)
    X, kernel = _degenerate_design(kind, 60, rng)
    Xt = X + 0.01 * rng.normal(size=X.shape) if kind != "repeated_points" else X[::-1]
    y = np.sin(2 * X[:, 0]) + rng.normal(size=60)
    K = NystromKernelRidge(kernel=kernel)._gram(X, X)
    assert _Whitening(K).W is not None  # the eigendecomposition path: no usable Cholesky factor
    R = _upper_cholesky(K)
    assert np.isfinite(R).all() and np.allclose(R, np.triu(R))
    assert np.linalg.norm(R.T @ R - K, 2) <= np.trace(K) / 60  # the jitter stays below mean(diag)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # ill-conditioned: many iterations
        cg = NystromKernelRidge(kernel=kernel, solver="cg", random_state=0).fit(X, y)
    assert np.isfinite(cg.predict(X)).all()
    for method in (SoftMatching, ResidualAsTeacher):
        pair = method(
            NystromKernelRidge(kernel=kernel, alpha=0.1, random_state=0),
            NystromKernelRidge(kernel=kernel, alpha=0.1, random_state=1),
        ).fit(X, y, X_target=Xt)
        assert np.isfinite(pair.predict(Xt)).all()


def test_a_well_conditioned_gram_is_whitened_by_its_cholesky_factor():
    """The fast path: a Laplace kernel on spread centers keeps its pivots above sqrt(eps) of
    the largest, so the whitening is the triangular factor, and it whitens: W^T K W = I."""
    X = np.random.default_rng(0).uniform(size=(80, 3))
    K = laplace(0.5)(X, X)
    white = _Whitening(K)
    assert white.R is not None and white.rank == 80
    F = white.features(K)  # rows of K(C, C) W: F^T K^{-1} F = W^T K W
    atol = 10 * 80 * np.finfo(float).eps * np.linalg.cond(K)  # two triangular solves
    np.testing.assert_allclose(white.features(F.T), np.eye(80), atol=atol)


def test_chunks_do_not_change_the_solution_and_cg_is_preconditioned():
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(3000, 3))
    y = np.cos(4 * X[:, 1]) + 0.3 * rng.normal(size=3000)
    kw = dict(kernel=gaussian(0.3), alpha=3.0, random_state=2, solver="cg")
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
        ({"n_centers": 0}, r"'n_centers' parameter of NystromKernelRidge must be None or an int"),
        ({"n_centers": 31}, r"n_centers must be .* \(30\), got 31"),
        ({"n_centers": 2.5}, r"'n_centers' parameter .* Got 2.5 instead"),
        ({"n_centers": True}, r"'n_centers' parameter .* \(a bool is not a count\)"),
        ({"max_iter": True}, r"'max_iter' parameter .* \(a bool is not a count\)"),
        ({"alpha": 0.0}, r"'alpha' parameter .* range \(0.0, inf\)\. Got 0.0"),
        ({"alpha": "1"}, r"'alpha' parameter .* Got '1' instead"),
        ({"alpha": np.nan}, r"'alpha' parameter .* Got nan instead"),
        ({"chunk_size": 0}, r"'chunk_size' parameter .* Got 0 instead"),
        ({"tol": -1.0}, r"'tol' parameter"),
        ({"solver": "lu"}, r"'solver' parameter .* Got 'lu' instead"),
        ({"kernel": "gauss"}, r"'kernel' parameter"),
    ],
)
def test_bad_parameters_are_named(params, match):
    X, y = np.random.default_rng(0).uniform(size=(30, 2)), np.zeros(30)
    with pytest.raises(ValueError, match=match):
        NystromKernelRidge(**params).fit(X, y)


@pytest.mark.parametrize("y", [np.array(["a", "b"] * 15), np.array(["1.0"] * 30, dtype=object)])
def test_targets_that_are_not_numbers_are_named(y):
    X = np.random.default_rng(0).uniform(size=(30, 2))
    if y.dtype == object:  # numbers as strings in an object array are converted, as sklearn does
        NystromKernelRidge().fit(X, y)
        return
    with pytest.raises(ValueError, match="y must hold real numbers"):
        NystromKernelRidge().fit(X, y)


@parametrize_with_checks([NystromKernelRidge(alpha=0.1, random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _pair(M_T, M_S, a_T, a_S, kernel, tol=1e-13):
    common = dict(kernel=kernel, tol=tol, max_iter=2000)
    return (
        NystromKernelRidge(n_centers=M_T, alpha=a_T, random_state=1, **common),
        NystromKernelRidge(n_centers=M_S, alpha=a_S, random_state=2, **common),
    )


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(15, 60), st.floats(-1, 1.5), st.floats(-2, 0.5))
def test_low_rank_rat_with_every_point_a_center_is_the_kernel_fixed_point(
    seed, n, log_a_T, log_a_S
):
    """Claim RAT-2's estimator at scale: with every source point a teacher center and every
    target point a student center, Nystrom kernel ridge is kernel ridge, so the low-rank fixed
    point must be ``(a_S I + G K_st) alpha = G y`` of the dense path. Tolerance: both solve
    systems of condition at most ``cond`` (either kernel ridge's, or the fixed point's) in
    float64, backward stable, so within ``(n + m) eps cond`` of each other; the
    eigenvalues below ``M eps max(w)`` that whitening drops from each centers' Gram are of that
    order."""
    rng = np.random.default_rng(seed)
    m = n + 5
    X, Xt = rng.uniform(size=(n, 2)), rng.uniform(size=(m, 2)) ** 2
    y = np.cos(3 * X[:, 0]) + 0.3 * rng.normal(size=n)
    kernel = laplace(0.6)
    a_T, a_S = 10.0**log_a_T, 10.0**log_a_S
    teacher, student = _pair(n, m, a_T, a_S, kernel)
    low = ResidualAsTeacher(teacher, student).fit(X, y, X_target=Xt)
    assert (low.solver_, low.method_) == ("nystrom", "closed_form")
    assert (low.teacher_.solver_, low.student_.solver_) == ("direct", "direct")
    G = kernel(Xt, X) @ np.linalg.inv(kernel(X, X) + a_T * np.eye(n))
    C = G @ kernel(X, Xt)
    alpha = np.linalg.solve(a_S * np.eye(m) + C, G @ y)
    expected = kernel(Xt, Xt) @ alpha
    eps = np.finfo(float).eps
    cond = max(np.linalg.cond(kernel(X, X) + a_T * np.eye(n)), np.linalg.cond(a_S * np.eye(m) + C))
    atol = (n + m) * eps * cond * np.abs(expected).max()
    np.testing.assert_allclose(low.predict(Xt), expected, rtol=0, atol=atol)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_low_rank_rat_is_the_limit_of_picard_refits(seed):
    """The low-rank fixed point against ``method="picard"`` (teacher and student refitted by
    FALKON each iteration, the same centers): they agree within the error Picard leaves when it
    stops, ``sqrt(m) change rho / (1 - rho)`` (``rho`` from its last two changes), plus CG's
    relative residual ``1e-13`` carried through the refits."""
    rng = np.random.default_rng(seed)
    X, Xt = rng.uniform(size=(300, 3)), rng.uniform(size=(200, 3)) ** 0.5
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2 + 0.3 * rng.normal(size=300)
    teacher, student = _pair(60, 40, 20.0, 0.3, laplace(0.5))
    low = ResidualAsTeacher(teacher, student).fit(X, y, X_target=Xt)
    pic = ResidualAsTeacher(teacher, student, method="picard", n_iter=5000, tol=1e-12)
    pic.fit(X, y, X_target=Xt)
    assert pic.converged_ and pic.method_ == "picard"
    r = pic.residuals_
    rho = r[-1] / r[-2]
    assert 0 < rho < 1
    p = low.predict(Xt)
    bound = np.sqrt(len(Xt)) * r[-1] * rho / (1 - rho) + 1e-10 * np.abs(p).max()
    assert np.abs(p - pic.predict(Xt)).max() <= bound
    # the teacher is fitted to the final residuals on both paths
    q = low.teacher_.predict(Xt)
    assert np.abs(q - pic.teacher_.predict(Xt)).max() <= bound + 1e-10 * np.abs(q).max()


def test_low_rank_soft_matching_is_the_two_fits():
    rng = np.random.default_rng(5)
    X, Xt = rng.uniform(size=(500, 3)), rng.uniform(size=(400, 3)) ** 2
    y = np.sin(4 * X[:, 2]) + 0.2 * rng.normal(size=500)
    teacher, student = (e.set_params(solver="cg") for e in _pair(70, 50, 5.0, 0.1, gaussian(0.4)))
    low = SoftMatching(teacher, student).fit(X, y, X_target=Xt)  # the pair path: one pass
    fits = SoftMatching(teacher, student, solver="dense").fit(X, y, X_target=Xt)
    assert (low.solver_, fits.solver_) == ("nystrom", "dense")
    assert low.teacher_.n_iter_ == 1 and fits.teacher_.n_iter_ > 1  # two FALKON fits
    # each CG fit stops at relative residual 1e-13 of a system whose whitened condition is at
    # most 1 + n / alpha (a kernel bounded by 1); the student, a ridge projection (norm <= 1),
    # carries the teacher's error and adds its own: 1e-13 (cond_T + cond_S) relative
    p = low.predict(Xt)
    cond = (1 + 500 / 5.0) + (1 + 400 / 0.1)
    assert np.abs(p - fits.predict(Xt)).max() <= 1e-13 * cond * np.abs(p).max()


def test_low_rank_pair_checks_its_centers_against_each_sample():
    rng = np.random.default_rng(6)
    X, Xt, y = rng.uniform(size=(40, 2)), rng.uniform(size=(25, 2)), rng.normal(size=40)
    teacher, student = _pair(20, 30, 1.0, 1.0, laplace(0.5))  # 30 centers, 25 target points
    with pytest.raises(ValueError, match=r"n_centers must be .* \(25\), got 30"):
        ResidualAsTeacher(teacher, student).fit(X, y, X_target=Xt)
    with pytest.raises(ValueError, match="n_centers"):
        SoftMatching(teacher, student).fit(X, y, X_target=Xt)


def test_direct_solve_is_the_cg_solution_in_one_pass():
    """solver="direct" (one pass, whitened Cholesky) and FALKON's CG solve the same system: the
    fitted functions agree to CG's relative residual (1e-12) times the whitened system's
    condition, at most 1 + ||Phi||^2 / alpha <= 1 + n / alpha for a kernel bounded by 1."""
    rng = np.random.default_rng(7)
    X = rng.uniform(size=(2000, 3))
    y = np.cos(4 * X[:, 1]) + 0.3 * rng.normal(size=2000)
    kw = dict(kernel=laplace(0.5), n_centers=150, alpha=20.0, random_state=3, tol=1e-12)
    cg = NystromKernelRidge(solver="cg", max_iter=1000, **kw).fit(X, y)
    direct = NystromKernelRidge(chunk_size=333, **kw).fit(X, y)
    assert (cg.solver_, direct.solver_, direct.n_iter_) == ("cg", "direct", 1)
    p = direct.predict(X)
    bound = 1e-12 * (1 + 2000 / 20.0) * np.abs(p).max()
    assert np.abs(p - cg.predict(X)).max() <= bound
    with pytest.raises(ValueError, match="'solver' parameter of NystromKernelRidge"):
        NystromKernelRidge(solver="lu").fit(X, y)
