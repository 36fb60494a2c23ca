"""Tests of kdtheory.exact (paths of exact risks) and kdtheory.linalg (factor-once solvers).

The paths are checked against dense smoother matrices built column by column from the
estimators themselves (fit on unit vectors ``e_i``), and the exact risk against a Monte Carlo
average over noise draws.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.kernel_ridge import KernelRidge

from kdtheory import ResidualAsTeacher, SoftMatching
from kdtheory.exact import PATH_INPUTS, distillation_paths
from kdtheory.kernels import FiniteRankSobolev, SobolevMin, laplace
from kdtheory.linalg import (
    CholeskyFactor,
    DensePath,
    SpectralPath,
    SymmetricEigen,
    inverse_filter,
    linear_smoother_risk,
    ridge_filter,
)
from kdtheory.shift import two_piece_shift

EPS = np.finfo(float).eps
TEACHER_RIDGE = 1.0
STUDENT_RIDGES = np.array([0.05, 0.3, 2.0])
SOURCE_RIDGES = np.array([0.1, 0.7, 3.0])
NOISE_SD = 0.3


def f_star(X):
    x = np.asarray(X)[:, 0]
    return np.sin(2.5 * np.pi * x) + x**2


def _unit_smoother(fit_predict, n: int) -> np.ndarray:
    """Dense smoother ``A`` with ``A[:, i] = fit_predict(e_i)``; exact for a linear smoother."""
    return np.column_stack([fit_predict(np.eye(n)[i]) for i in range(n)])


def _dense_matrices(X, Xt, Xe, kT, kS, a_S, a_src):
    """Smoother matrices of every method from the estimators (one ridge value)."""
    n, m = len(X), len(Xt)
    T = KernelRidge(alpha=TEACHER_RIDGE, kernel=kT)
    S = KernelRidge(alpha=a_S, kernel=kS)
    return {
        "teacher": _unit_smoother(
            lambda e: KernelRidge(alpha=TEACHER_RIDGE, kernel=kT).fit(X, e).predict(Xe), n
        ),
        "krr": _unit_smoother(
            lambda e: KernelRidge(alpha=a_src, kernel=kS).fit(X, e).predict(Xe), n
        ),
        "sm": _unit_smoother(lambda e: SoftMatching(T, S).fit(X, e, X_target=Xt).predict(Xe), n),
        "rat": _unit_smoother(
            lambda e: ResidualAsTeacher(T, S).fit(X, e, X_target=Xt).predict(Xe), n
        ),
        "oracle": _unit_smoother(
            lambda e: KernelRidge(alpha=a_src, kernel=kS).fit(Xt, e).predict(Xe), m
        ),
    }


def _error_bound(X, Xt, kT, kS, a_S) -> float:
    """First-order floating-point bound on the relative error of a smoother entry.

    Every smoother here is at most two backward-stable solves deep (teacher, then student or the
    RaT system ``a_S I + C``), so its relative error is at most
    ``10 n eps cond(K_T + a_T I) cond(a_S I + C)`` (Wilkinson constant ``10 n``).
    """
    KT = kT(X, X)
    cond_T = np.linalg.cond(KT + TEACHER_RIDGE * np.eye(len(X)))
    G = np.linalg.solve(KT + TEACHER_RIDGE * np.eye(len(X)), kT(X, Xt)).T
    C = G @ kS(X, Xt)
    cond_S = np.linalg.cond(a_S * np.eye(len(Xt)) + C)
    cond_tt = np.linalg.cond(kS(Xt, Xt) + a_S * np.eye(len(Xt)))
    return 10.0 * max(len(X), len(Xt)) * EPS * cond_T * max(cond_S, cond_tt)


def _design(case: str, seed: int):
    rng = np.random.default_rng(seed)
    shift = two_piece_shift(4.0)
    X, Xt = shift.draw(rng, 22, 18)
    if case == "no_shift":
        Xt = X
    return X, Xt


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", ["no_shift", "shift", "different_kernels"])
def test_paths_match_dense_smoothers(case, weighted):
    X, Xt = _design(case, seed=11)
    kS = SobolevMin()
    kT = FiniteRankSobolev(rank=6) if case == "different_kernels" else SobolevMin()
    if weighted:
        quad = two_piece_shift(4.0).target_quadrature(30)
        Xe, w = quad.points, quad.weights
    else:
        Xe, w = np.random.default_rng(12).random((30, 1)), None
    paths = distillation_paths(
        X,
        Xt,
        Xe,
        kernel=kS,
        teacher_kernel=None if case != "different_kernels" else kT,
        teacher_ridge=TEACHER_RIDGE,
        student_ridges=STUDENT_RIDGES,
        source_ridges=SOURCE_RIDGES,
        eval_weights=w,
    )
    assert set(paths) == set(PATH_INPUTS)
    rat_type = DensePath if case == "different_kernels" else SpectralPath
    assert isinstance(paths["rat"], rat_type)
    f_eval = f_star(Xe)
    for j, (a_S, a_src) in enumerate(zip(STUDENT_RIDGES, SOURCE_RIDGES, strict=True)):
        rtol = 1e-9
        bound = _error_bound(X, Xt, kT, kS, a_S)
        # the relative tolerance 1e-9 is a floating-point bound only while this holds
        assert 2 * bound < rtol
        dense = _dense_matrices(X, Xt, Xe, kT, kS, a_S, a_src)
        for method, A in dense.items():
            f_in = f_star(Xt) if PATH_INPUTS[method] == "target" else f_star(X)
            exact = linear_smoother_risk(A, f_in, f_eval, NOISE_SD, w)
            got = paths[method].risk(f_in, f_eval, NOISE_SD)
            L = len(got["risk"])
            assert L == (1 if method == "teacher" else len(STUDENT_RIDGES))
            k = 0 if method == "teacher" else j
            # risk is quadratic in A: relative error <= 2 * (relative error of A)
            for key in ("risk", "variance"):
                assert got[key][k] == pytest.approx(exact[key], rel=rtol, abs=0), (method, key)
            np.testing.assert_allclose(
                paths[method].predict(f_in)[:, k],
                A @ f_in,
                rtol=0,
                atol=rtol * np.max(np.abs(A @ f_in)),
                err_msg=method,
            )


def test_paths_reject_unknown_method():
    X = np.linspace(0.1, 1, 5).reshape(-1, 1)
    with pytest.raises(ValueError, match="unknown methods"):
        distillation_paths(
            X, X, X, kernel=SobolevMin(), teacher_ridge=1.0, student_ridges=[1.0], methods=("x",)
        )


# ------------------------------------------------------------------------- Monte Carlo check
@pytest.mark.parametrize("method", ["sm", "rat"])
def test_exact_risk_is_noise_average(method):
    rng = np.random.default_rng(2024)
    shift = two_piece_shift(4.0)
    X, Xt = shift.draw(rng, 15, 12)
    quad = shift.target_quadrature(20)
    Xe, w = quad.points, quad.weights
    kT, kS = laplace(0.3), SobolevMin()
    a_S = 0.05
    T, S = KernelRidge(alpha=TEACHER_RIDGE, kernel=kT), KernelRidge(alpha=a_S, kernel=kS)
    cls = SoftMatching if method == "sm" else ResidualAsTeacher
    A = _unit_smoother(lambda e: cls(T, S).fit(X, e, X_target=Xt).predict(Xe), len(X))
    noise_sd = 0.5
    f_in, f_eval = f_star(X), f_star(Xe)
    # the estimator on a noisy draw is the smoother applied to that draw (up to rounding)
    for _ in range(3):
        y = f_in + noise_sd * rng.standard_normal(len(X))
        pred = cls(T, S).fit(X, y, X_target=Xt).predict(Xe)
        np.testing.assert_allclose(pred, A @ y, rtol=0, atol=1e-9 * np.max(np.abs(pred)))
    exact = distillation_paths(
        X,
        Xt,
        Xe,
        kernel=kS,
        teacher_kernel=kT,
        teacher_ridge=TEACHER_RIDGE,
        student_ridges=[a_S],
        eval_weights=w,
        methods=(method,),
    )[method].risk(f_in, f_eval, noise_sd)["risk"][0]
    R = 20000  # predictions are A @ y: 20000 draws cost a few milliseconds
    Y = f_in[:, None] + noise_sd * rng.standard_normal((len(X), R))
    losses = w @ (A @ Y - f_eval[:, None]) ** 2
    se = losses.std(ddof=1) / np.sqrt(R)
    # CLT: the mean of R iid losses is within 4 standard errors of its expectation except with
    # probability ~6e-5; the seed is fixed, so the test is deterministic
    assert abs(losses.mean() - exact) <= 4 * se
    # and the standard error is small enough for this to discriminate: a formula with sigma in
    # place of sigma^2 (at sigma = 0.5 an error equal to the variance term) would be more than
    # 4 standard errors away even after a 4-standard-error fluctuation
    variance = noise_sd**2 * float(w @ np.sum(A * A, axis=1))
    wrong = exact - variance + noise_sd * float(w @ np.sum(A * A, axis=1))
    assert abs(wrong - exact) > 8 * se


# ------------------------------------------------------------------------------ linalg
def _psd(rng, n, rank=None):
    B = rng.standard_normal((n, n if rank is None else rank))
    return B @ B.T / n


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 60),
    log_ridge=st.floats(-3, 2),
    n_rhs=st.integers(0, 3),
)
def test_symmetric_eigen_and_cholesky_solve(seed, n, log_ridge, n_rhs):
    rng = np.random.default_rng(seed)
    K, a = _psd(rng, n), 10.0**log_ridge
    b = rng.standard_normal(n if n_rhs == 0 else (n, n_rhs))
    Ka = K + a * np.eye(n)
    ref = np.linalg.solve(Ka, b)
    # backward-stable solvers: relative error <= 10 n eps cond(K + aI) (each of the two compared)
    atol = 2 * 10.0 * n * EPS * np.linalg.cond(Ka) * np.max(np.abs(ref))
    np.testing.assert_allclose(SymmetricEigen.of(K).solve(b, a), ref, rtol=0, atol=atol)
    np.testing.assert_allclose(CholeskyFactor.of(K, a).solve(b), ref, rtol=0, atol=atol)
    np.testing.assert_allclose(CholeskyFactor.of(Ka).solve(b), ref, rtol=0, atol=atol)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 50), rank=st.integers(1, 10))
def test_inverse_filter_ridge_zero_is_pseudo_inverse(seed, n, rank):
    rank = min(rank, n - 1)
    rng = np.random.default_rng(seed)
    K = _psd(rng, n, rank)  # singular: rank < n
    eig = SymmetricEigen.of(K)
    h = inverse_filter(eig.values, 0.0)
    assert h.shape == (n, 1)
    assert np.count_nonzero(h) == rank  # the n - rank zero eigenvalues are cut off
    pinv_eig = eig.vectors @ (h[:, 0, None] * eig.vectors.T)
    ref = np.linalg.pinv(K, hermitian=True)
    # pseudo-inverse on the range: relative error ~ n eps cond_+(K) (cond on the range), x 10
    d = np.sort(np.abs(eig.values))[::-1][:rank]
    atol = 10.0 * n * EPS * (d[0] / d[-1]) * np.max(np.abs(ref))
    np.testing.assert_allclose(pinv_eig, ref, rtol=0, atol=atol)
    b = rng.standard_normal(n)
    np.testing.assert_allclose(eig.solve(b, 0.0), ref @ b, rtol=0, atol=atol * np.abs(b).sum())
    # ridge filter d / (d + a) at a = 0 is the projector's spectrum: 1 on the range, 0 off it
    rf = ridge_filter(eig.values, 0.0)[:, 0]
    kept = h[:, 0] != 0
    np.testing.assert_allclose(rf[kept], 1.0, rtol=0, atol=2 * EPS)  # d * (1 / d): two roundings
    assert np.all(rf[~kept] == 0.0)


def test_filters_shapes_and_errors():
    d = np.array([0.0, 1.0, 4.0])
    h = inverse_filter(d, [1.0, 3.0])
    np.testing.assert_array_equal(h, 1.0 / (d[:, None] + np.array([1.0, 3.0])[None, :]))
    np.testing.assert_array_equal(ridge_filter(d, 1.0)[:, 0], d / (d + 1.0))
    for bad in (-1.0, np.nan, np.inf, [[1.0]]):
        with pytest.raises(ValueError, match="ridge values must be finite and >= 0"):
            inverse_filter(d, bad)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    N=st.integers(1, 30),
    n=st.integers(2, 30),
    r=st.integers(1, 30),
    L=st.integers(1, 5),
    orthonormal=st.booleans(),
    weighted=st.booleans(),
)
def test_spectral_path_squared_frobenius(seed, N, n, r, L, orthonormal, weighted):
    rng = np.random.default_rng(seed)
    if orthonormal:
        r = min(r, n)
        Q, _ = np.linalg.qr(rng.standard_normal((n, r)))
        P = Q.T  # P P^T = I_r
    else:
        P = rng.standard_normal((r, n))
    B = rng.standard_normal((N, r))
    H = rng.random((r, L))
    w = rng.random(N) if weighted else None
    path = SpectralPath(B, P, H, w, orthonormal)
    ww = np.full(N, 1.0 / N) if w is None else w
    dense = [B @ (H[:, l, None] * P) for l in range(L)]
    ref = np.array([float(ww @ np.sum(A * A, axis=1)) for A in dense])
    got = path.squared_frobenius()
    assert got.shape == (L,)
    # Both sides are sums of products along chains of length <= r + n + N; the rounding error of
    # such a sum is <= (r + n + N) eps times the same sum taken over absolute values (which is
    # what cancellation can cost). Two computations compared: factor 2.
    c = 2.0 * (r + n + N) * EPS
    Babs, Pabs = np.abs(B), np.abs(P)
    abs_sum = np.array(
        [float(ww @ np.sum((Babs @ (H[:, l, None] * Pabs)) ** 2, axis=1)) for l in range(L)]
    )
    assert np.all(np.abs(got - ref) <= c * abs_sum)
    # predictions and risks agree with the dense formula, same kind of bound
    f_in, f_eval = rng.standard_normal(n), rng.standard_normal(N)
    sd = 0.7
    risk = path.risk(f_in, f_eval, sd)
    pred = path.predict(f_in)
    assert pred.shape == (N, L)
    for l, A in enumerate(dense):
        exact = linear_smoother_risk(A, f_in, f_eval, sd, w)
        delta = c * (Babs @ (H[:, l] * (Pabs @ np.abs(f_in))))  # bound on |pred - A f_in|
        assert np.all(np.abs(pred[:, l] - A @ f_in) <= delta)
        err = np.abs(A @ f_in - f_eval)
        bias_bound = float(ww @ (2 * err * delta + delta**2)) + c * exact["bias"]
        assert abs(risk["bias"][l] - exact["bias"]) <= bias_bound
        var_bound = sd**2 * c * abs_sum[l] + c * exact["variance"]
        assert abs(risk["variance"][l] - exact["variance"]) <= var_bound
        assert abs(risk["risk"][l] - exact["risk"]) <= bias_bound + var_bound
    # the dense fallback computes exactly linear_smoother_risk of each matrix
    dpath = DensePath(lambda i: dense[i], L, w)
    drisk = dpath.risk(f_in, f_eval, sd)
    for l, A in enumerate(dense):
        assert drisk["risk"][l] == linear_smoother_risk(A, f_in, f_eval, sd, w)["risk"]
        np.testing.assert_array_equal(dpath.predict(f_in)[:, l], A @ f_in)


def test_linear_smoother_risk_formula():
    # CLAIMS.md (top): ||A f - f_eval||^2 / N + sigma^2 ||A||_F^2 / N with equal weights
    A = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])
    f_in, f_eval = np.array([1.0, -1.0]), np.array([0.0, 1.0, 2.0])
    r = linear_smoother_risk(A, f_in, f_eval, 2.0)
    assert r["bias"] == pytest.approx(((-1.0) ** 2 + 0.0**2 + 0.5**2) / 3, rel=1e-15)
    assert r["variance"] == pytest.approx(4.0 * np.sum(A * A) / 3, rel=1e-15)
    assert r["risk"] == r["bias"] + r["variance"]
