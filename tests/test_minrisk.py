"""The exact variance of the min(x, x') smoothers from one bordered determinant (kdtheory._minrisk).

The reference is the dense smoother matrix ``A`` (N x n) of each method, built from its
definition with ``n x n`` solves: ``sum_j w_j ||A_j.||^2`` and ``A f``. Both computations are
backward stable, so to first order each solve adds a relative error of at most a modest multiple
of ``eps`` times its condition number; the bound below is ``100 (n + m) eps kappa`` with
``kappa`` the sum of the condition numbers of the dense systems (the teacher's and the
student's). Ridges reach ``10^-7`` per point, where ``kappa`` is about ``10^8``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kdtheory._minrisk as minrisk
from kdtheory._minrisk import BorderedRisk, min_risk_terms
from kdtheory.kernels import SobolevMin

K = SobolevMin()
EPS = np.finfo(float).eps


def _dense(method, X, Xt, Xe, a_T, a_S):
    """The smoother matrix from its definition, and the condition number of its solves."""
    Kss, Kts, Ktt = K(X, X), K(Xt, X), K(Xt, Xt)
    if method in ("teacher", "krr"):
        a = a_T if method == "teacher" else a_S
        R = Kss + a * np.eye(len(X))
        return K(Xe, X) @ np.linalg.inv(R), np.linalg.cond(R)
    R = Kss + a_T * np.eye(len(X))
    G = Kts @ np.linalg.inv(R)
    if method == "sm":
        S = Ktt + a_S * np.eye(len(Xt))
        return K(Xe, Xt) @ np.linalg.solve(S, G), np.linalg.cond(R) + np.linalg.cond(S)
    C = a_S * np.eye(len(Xt)) + G @ K(X, Xt)
    return K(Xe, Xt) @ np.linalg.solve(C, G), np.linalg.cond(R) + np.linalg.cond(C)


@st.composite
def designs(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, m = draw(st.integers(2, 40)), draw(st.integers(2, 40))
    X = rng.uniform(size=(n, 1))
    if draw(st.booleans()):
        X[0] = 0.0  # a point at the origin, where every fit is 0
    if draw(st.booleans()):
        X[: n // 2] = X[n - n // 2 :]  # duplicated points
    Xt = X if draw(st.booleans()) else rng.uniform(size=(m, 1)) ** draw(st.floats(0.3, 3.0))
    Xe = np.concatenate([rng.uniform(-0.2, 1.3, size=(25, 1)), X[:3], Xt[-2:]])
    w = rng.dirichlet(np.ones(len(Xe)))
    per_point = len(X) + len(Xt)
    a_T = per_point * 10 ** draw(st.floats(-5, 2))
    a_S = per_point * 10 ** draw(st.floats(-7, 2))
    return X, Xt, Xe, w, a_T, a_S


@settings(max_examples=60, deadline=None)
@given(designs(), st.sampled_from(["teacher", "krr", "sm", "rat"]))
def test_variance_and_predictions_equal_the_dense_smoothers(design, method):
    X, Xt, Xe, w, a_T, a_S = design
    Y = np.column_stack([np.sin(4 * X[:, 0]), np.ones(len(X))])
    A, kappa = _dense(method, X, Xt, Xe, a_T, a_S)
    pred, var = min_risk_terms(method, X[:, 0], Xt[:, 0], Xe[:, 0], w, a_T, a_S, Y)
    rtol = 100 * (len(X) + len(Xt)) * EPS * kappa
    want = float(w @ np.sum(A * A, axis=1))
    assert var == pytest.approx(want, rel=rtol, abs=1e-300)
    np.testing.assert_allclose(pred, A @ Y, rtol=0, atol=rtol * np.abs(A @ Y).max() + 1e-300)


def test_one_assembly_serves_every_ridge():
    """The bordered matrix that BorderedRisk forms at a pair of ridges (its assembly at ridge 0
    plus the ridges' entries) equals the one assembled afresh at those ridges, entry for entry:
    the split is exact (every entry is a constant or a ridge times one)."""
    from kdtheory._minkernel import krr_system, pair_system
    from kdtheory._minrisk import _bordered, _evaluation, _Spline

    rng = np.random.default_rng(5)
    X, Xt, Xe = rng.uniform(size=60), rng.uniform(size=45) ** 2, np.linspace(0, 1, 50)
    w = np.full(50, 0.02)
    for method in ("teacher", "krr", "sm", "rat"):
        system = BorderedRisk(method, X, Xt, Xe, w)
        for a_T, a_S in ((10.0, 1e-4), (0.5, 3.0)):
            if method in ("teacher", "krr"):
                M, s, rows_in, spline, _ = krr_system(X, a_T if method == "teacher" else a_S)
            else:
                M, s, rows_in, spline, _ = pair_system(X, Xt, a_T, a_S, method)
            _, omega = _evaluation(_Spline(*spline), Xe, w)
            (rows, cols, vals), _, _ = _bordered(M, s, omega, rows_in)
            fresh = np.zeros_like(system.band(a_T, a_S))
            np.add.at(fresh, (system.kl + system.ku + rows - cols, cols), vals)
            np.testing.assert_array_equal(system.band(a_T, a_S), fresh)


def test_the_complex_step_leaves_no_trace_of_its_size(monkeypatch):
    """The complex step's error is O(h^2) with no cancellation: steps 1e-30 and 1e-12 give the
    same variance to rounding (a finite difference would lose half the digits)."""
    rng = np.random.default_rng(2)
    X, Xt, Xe = rng.uniform(size=80), rng.uniform(size=70), np.linspace(0, 1, 64)
    w = np.full(64, 1 / 64)
    Y = np.cos(X)[:, None]
    results = []
    for step in (1e-30, 1e-12):
        monkeypatch.setattr(minrisk, "STEP", step)
        results.append(min_risk_terms("rat", X, Xt, Xe, w, 15.0, 0.3, Y))
    assert results[0][1] == pytest.approx(results[1][1], rel=1e-12)
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)


def test_a_singular_system_is_named():
    X = np.array([0.2, 0.2, 0.5])
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        min_risk_terms("krr", X, X, np.linspace(0, 1, 5), np.full(5, 0.2), 1.0, 0.0, X[:, None])


def test_bandwidth_of_the_bordered_matrix():
    """The interleaving order keeps the bordered matrices at bandwidth 2 (kernel ridge) and 4
    (the pairs), with and without shift: the cost per ridge is linear in n with a small
    constant."""
    rng = np.random.default_rng(0)
    X, Xt, Xe = rng.uniform(size=50), rng.uniform(size=40), np.linspace(-0.1, 1.1, 99)
    w = np.full(99, 1 / 99)
    assert BorderedRisk("krr", X, Xt, Xe, w).kl == 2
    for method in ("sm", "rat"):
        assert BorderedRisk(method, X, Xt, Xe, w).kl == 4
        assert BorderedRisk(method, X, X, Xe, w).kl == 4
