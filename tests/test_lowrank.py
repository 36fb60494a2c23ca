"""The low-rank teacher path equals the dense formulas (claim RAT-5's solver).

Property tests over random designs (shifted or not, duplicated points, points at 0), teacher
ranks, ridges and student kernels: the risks of :func:`kdtheory.lowrank.low_rank_paths` against
the smoothers written as the algorithm reads (``np.linalg.solve`` on ``n x n`` systems with the
teacher's Gram ``Phi Phi^T``).

Tolerance: relative difference of the risks at most ``1e-8``. Both sides solve the same linear
systems with backward-stable solvers; the ridges drawn keep every system's condition number
below ``(||K|| + a) / a <= 1e5`` (``||K|| <= n`` for kernels bounded by 1 on ``[0, 1]``, ridges
at least ``1e-4 n``), so each side is accurate to about ``1e5 * n * eps < 1e-9``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdtheory._minkernel import MinKernelSmoother
from kdtheory.exact import distillation_paths
from kdtheory.kernels import FiniteRankSobolev, SobolevMin, gaussian, laplace
from kdtheory.linalg import linear_smoother_risk
from kdtheory.lowrank import FactorPath, low_rank_paths, pivoted_cholesky
from kdtheory.simulations._targets import SobolevTarget

RTOL = 1e-8


def _f(x):
    return np.sin(3.0 * x[:, 0]) + x[:, 0] ** 2


@st.composite
def designs(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, m = draw(st.integers(2, 40)), draw(st.integers(2, 40))
    X = rng.uniform(0, 1, (n, 1))
    shift = draw(st.booleans())
    Xt = rng.uniform(0, 1, (m, 1)) ** draw(st.floats(0.3, 3.0)) if shift else X
    if draw(st.booleans()):  # duplicated points and a point at 0
        X[: n // 2] = X[0]
        X[-1] = 0.0
    rank = draw(st.integers(1, 8))
    a_T = n * 10 ** draw(st.floats(-4, 1))
    ridges = len(Xt) * 10 ** np.sort(np.array(draw(st.lists(st.floats(-4, 1), min_size=1,
                                                             max_size=4))))  # fmt: skip
    student = draw(st.sampled_from([SobolevMin(), gaussian(0.3), laplace(0.4)]))
    return X, Xt, shift, rank, a_T, ridges, student


def _reference(method, X, Xt, Xe, Phi, Phi_t, a_T, a_S, student):
    """The smoother from ``n x n`` solves, as the algorithm reads."""
    G = Phi_t @ Phi.T @ np.linalg.inv(Phi @ Phi.T + a_T * np.eye(len(X)))
    if method == "sm":
        return student(Xe, Xt) @ np.linalg.solve(student(Xt, Xt) + a_S * np.eye(len(Xt)), G)
    C = G @ student(X, Xt)
    return student(Xe, Xt) @ np.linalg.solve(C + a_S * np.eye(len(Xt)), G)


@settings(max_examples=60, deadline=None)
@given(designs())
def test_low_rank_paths_equal_the_dense_formulas(design):
    X, Xt, shift, rank, a_T, ridges, student = design
    Xe = np.linspace(-0.1, 1.1, 37)[:, None]
    w = np.full(len(Xe), 1.0 / len(Xe))
    kernel = FiniteRankSobolev(rank)
    Phi = kernel.features(X)
    Phi_t = kernel.features(Xt) if shift else None
    paths = low_rank_paths(
        X, Xt, Xe, teacher_factor=Phi, target_factor=Phi_t, teacher_ridge=a_T,
        student_ridges=ridges, kernel=student,
    )  # fmt: skip
    for method, path in paths.items():
        got = path.risk(_f(X), _f(Xe), 0.5)
        for i, a_S in enumerate(ridges):
            A = _reference(method, X, Xt, Xe, Phi, kernel.features(Xt), a_T, a_S, student)
            want = linear_smoother_risk(A, _f(X), _f(Xe), 0.5, w)
            for key in ("bias", "variance", "risk"):
                scale = max(want["risk"], 1e-300)
                assert abs(got[key][i] - want[key]) <= RTOL * scale, (method, key, a_S)


def test_low_rank_paths_equal_distillation_paths_with_the_finite_rank_teacher():
    """Against the library's dense path (its eigendecompositions) on a spread design."""
    rng = np.random.default_rng(3)
    n = 150
    X = np.sort(rng.uniform(0.01, 1, (n, 1)), axis=0)
    Xe = (np.arange(200)[:, None] + 0.5) / 200
    ridges = n * np.logspace(-4, 0, 5)
    kw = {"teacher_ridge": 0.1 * n, "student_ridges": ridges, "methods": ("sm", "rat")}
    dense = distillation_paths(
        X, X, Xe, kernel=SobolevMin(), teacher_kernel=FiniteRankSobolev(5), solver="dense", **kw
    )
    fast = low_rank_paths(X, X, Xe, teacher_factor=FiniteRankSobolev(5).features(X), **kw)
    for m in ("sm", "rat"):
        a, b = dense[m].risk(_f(X), _f(Xe), 0.5), fast[m].risk(_f(X), _f(Xe), 0.5)
        np.testing.assert_allclose(b["risk"], a["risk"], rtol=RTOL)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 60), st.sampled_from([0.05, 0.2, 1.0]))
def test_pivoted_cholesky_residual_is_bounded_by_its_tolerance(seed, n, length_scale):
    """``E = K - Phi Phi^T`` is positive semi-definite, so ``|E_ij| <= max_i E_ii <= rtol``
    (plus the rounding of ``Phi Phi^T``: ``r`` products of entries at most 1)."""
    X = np.random.default_rng(seed).uniform(0, 1, (n, 1))
    for kernel in (gaussian(length_scale), laplace(length_scale)):
        Phi = pivoted_cholesky(kernel, X, rtol=1e-10)
        E = kernel(X, X) - Phi @ Phi.T
        slack = 4 * (Phi.shape[1] + 1) * np.finfo(float).eps
        assert np.abs(E).max() <= 1e-10 + slack
        assert np.linalg.eigvalsh(E).min() >= -n * slack


def test_pivoted_cholesky_finds_the_rank_of_a_finite_rank_kernel():
    X = np.random.default_rng(0).uniform(0, 1, (300, 1))
    for rank in (1, 4, 9):
        Phi = pivoted_cholesky(FiniteRankSobolev(rank), X)
        assert Phi.shape == (300, rank)
    assert pivoted_cholesky(gaussian(0.05), X, max_rank=7).shape == (300, 7)
    assert pivoted_cholesky(gaussian(0.05), X[:0]).shape == (0, 0)
    with pytest.raises(ValueError, match="rtol"):
        pivoted_cholesky(gaussian(0.1), X, rtol=-1.0)
    with pytest.raises(ValueError, match="shape"):
        pivoted_cholesky(gaussian(0.1), X[:, 0])


def test_factor_path_variance_is_the_weighted_frobenius_norm():
    rng = np.random.default_rng(1)
    lefts, right = rng.normal(size=(3, 11, 4)), rng.normal(size=(4, 17))
    w = rng.uniform(0.1, 1.0, 11)
    path = FactorPath(lefts, right, w)
    want = [np.sum(w[:, None] * (B @ right) ** 2) for B in lefts]
    np.testing.assert_allclose(path.squared_frobenius(), want, rtol=1e-12)
    z = rng.normal(size=17)
    np.testing.assert_allclose(path.predict(z), np.column_stack([B @ right @ z for B in lefts]))


def test_bad_inputs_are_clear_errors():
    X = np.linspace(0.1, 1, 10)[:, None]
    Xt = X[:7] / 2
    Phi = FiniteRankSobolev(3).features(X)
    kw = {"teacher_ridge": 1.0, "student_ridges": [1.0]}
    with pytest.raises(ValueError, match="unknown methods"):
        low_rank_paths(X, X, X, teacher_factor=Phi, methods=("krr",), **kw)
    with pytest.raises(ValueError, match="teacher_factor must have shape"):
        low_rank_paths(X, X, X, teacher_factor=Phi[:5], **kw)
    with pytest.raises(ValueError, match="target_factor is required"):
        low_rank_paths(X, Xt, X, teacher_factor=Phi, **kw)
    with pytest.raises(ValueError, match="target_factor must have shape"):
        low_rank_paths(X, Xt, X, teacher_factor=Phi, target_factor=Phi, **kw)
    with pytest.raises(ValueError, match="teacher_ridge must be > 0"):
        low_rank_paths(X, X, X, teacher_factor=Phi, teacher_ridge=0.0, student_ridges=[1.0])
    with pytest.raises(ValueError, match="student_ridges"):
        low_rank_paths(X, X, X, teacher_factor=Phi, teacher_ridge=1.0, student_ridges=[-1.0])
    with pytest.raises(ValueError, match="ridge must be > 0"):
        MinKernelSmoother(X, Phi).predict(0.0, X)
    with pytest.raises(ValueError, match="points >= 0"):
        MinKernelSmoother(-X, Phi)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(["rate_tight", "smooth"]),
    st.sampled_from([16, 64, 100]),
    st.integers(1, 3000),
)
def test_sobolev_target_by_angle_addition_equals_the_direct_sum(seed, profile, block, n_terms):
    """Both sums round each term's argument ``(k - 1/2) pi x`` (absolute error about
    ``k pi |x| eps``) and its sine: the difference is at most
    ``4 eps sum_k sqrt2 |theta_k| (k pi max|x| + 4)``."""
    x = np.random.default_rng(seed).uniform(-0.5, 1.5, (50, 1))
    f = SobolevTarget(profile, n_terms=n_terms)
    k, theta = f.k, np.sqrt(2.0) * np.abs(f.theta)
    bound = 4 * np.finfo(float).eps * np.sum(theta * (k * np.pi * np.abs(x).max() + 4))
    assert np.abs(f.by_angle_addition(x, block=block) - f(x)).max() <= bound
