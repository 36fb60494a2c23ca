"""NystromKernelRidge (FALKON's preconditioned CG and the direct solve), and the Nystrom pair
path of SM and RaT."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.kernel_ridge import KernelRidge
from sklearn.utils.estimator_checks import parametrize_with_checks

from kdtheory import ResidualAsTeacher, SoftMatching
from kdtheory.kernels import SobolevMin, gaussian, laplace
from kdtheory.nystrom import NystromKernelRidge, default_n_centers


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
    jitter ``eps M mean(diag K)`` that whitening adds to each centers' Gram is of that order."""
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
    with pytest.raises(ValueError, match="solver must be 'auto', 'cg' or 'direct'"):
        NystromKernelRidge(solver="lu").fit(X, y)
