"""Tests of kdtheory.dynamics: closed forms of gradient descent and gradient flow (NAG-1),
distillation through them (CLAIMS.md 2.1), the degenerate cases of NAG-4, the switch filter of
NAG-7 and :class:`GradientDescentRegressor`.

References are independent of the closed forms: gradient descent run step by step
(:func:`simulate_gd`), the matrix exponential for gradient flow, and exact rational arithmetic for
powers of ``1 - eta lam``. Designs are built as ``X = U diag(s) V^T`` from random orthonormal
``U, V`` so that the directions ``v_k`` and the targets ``w*_k`` are known.

Tolerance of the comparisons with simulated descent (the claim's ``1e-8`` along every ``v_k``).
One step ``w - eta X^T (X w - y)`` commits a rounding error of norm at most about
``3 (n + p) sqrt(r) EPS (||w|| + eta ||X||^2 ||w|| + eta ||X|| ||y||)``; with ``n, p, r <= 6``,
``eta ||X||^2 <= 1.8`` and ``||w||, ||y|| / ||X|| <= 2 ||w*||`` that is ``<= 720 EPS ||w*||``.
Later steps multiply the error along ``v_k`` by ``|q_k| <= 1``, so ``N <= 55`` steps in all leave
``<= 4e4 EPS ||w*|| < 9e-12 ||w*|| < 5e-11`` (``||w*|| <= 2 sqrt(6)``). Along ``v_k`` the weight
is ``h_k w*_k`` with ``|w*_k| >= 1/2``; singular values lie in ``[0.7 s_max, s_max]`` and
``eta lam_max >= 1/2``, so one step gives ``F_k >= 0.5 * 0.7**2 > 0.24`` (``F_k >= 0.36`` where
``1 < eta lam_k <= 1.8``), and every filter below (products of at most two such ``F`` and one
``F`` of three steps, ``>= 0.57``) is ``>= 0.033``: relative errors ``<= 3e-9``, inside ``1e-8``.
The SVD behind the closed forms adds ``O(EPS cond(X))`` with ``cond(X) <= 1 / 0.7``.
"""

from __future__ import annotations

import doctest
from fractions import Fraction

import numpy as np
import pytest
import scipy.linalg
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.utils.estimator_checks import parametrize_with_checks

from kdtheory import dynamics
from kdtheory.dynamics import (
    GradientDescentRegressor,
    SpectralDecomposition,
    distill_filter,
    gd_filter,
    gd_predictions,
    gd_weights,
    log_distill_filter,
    log_gd_filter,
    matched_progress_time,
    self_distill,
    self_distillation_weights,
    simulate_gd,
    switch_filter,
)

EPS = np.finfo(float).eps
CLAIM_RTOL = 1e-8  # NAG-1: relative error along every v_k
PROPERTY = settings(max_examples=40, deadline=None)


def _design(seed: int, n: int, p: int):
    """``X = U diag(s) V^T`` of rank ``min(n, p)``, ``s`` in ``[0.7 s_max, s_max]``, and ``y``.

    ``y = U (s * w_star) + e`` with ``|w*_k|`` in ``[1/2, 2]`` and ``e`` orthogonal to the range of
    ``X`` (gradient descent ignores it), ``||e|| <= s_max / 2 <= s_max ||w*||``.
    """
    rng = np.random.default_rng(seed)
    r = min(n, p)
    U = np.linalg.qr(rng.standard_normal((n, n)))[0]
    V = np.linalg.qr(rng.standard_normal((p, r)))[0]
    s_max = 10.0 ** rng.uniform(-1, 1)  # the learning rates below are in units of 1 / s_max^2
    s = np.sort(rng.uniform(0.7, 1.0, r))[::-1] * s_max
    w_star = rng.choice([-1.0, 1.0], r) * rng.uniform(0.5, 2.0, r)
    e = U[:, r:] @ rng.uniform(-1, 1, n - r) * (0.5 * s_max / np.sqrt(n))
    y = U[:, :r] @ (s * w_star) + e
    return (U[:, :r] * s) @ V.T, y, V, s**2, w_star


def log_uniform(lo: float, hi: float):
    """Floats spread evenly over the decades between ``lo`` and ``hi``."""
    return st.floats(np.log10(lo), np.log10(hi)).map(lambda e: 10.0**e)


designs = st.tuples(st.integers(0, 2**32 - 1), st.integers(2, 6), st.integers(2, 6))


# ------------------------------------------------------------------------- filters (NAG-1)
@PROPERTY
@given(
    lam=log_uniform(1e-3, 1e3),
    t=st.one_of(st.just(0.0), log_uniform(1e-3, 1e3)),
    log_c=st.floats(-12, np.log10(0.9)),
)
def test_gd_filter_matches_its_definition(lam, t, log_c):
    eta = 10.0**log_c / lam
    z = eta * lam  # the rounded product that gd_filter sees
    for learning_rate, x in ((None, lam * t), (eta, -t * np.log1p(-z))):
        F = gd_filter(lam, t, learning_rate)
        assert 0.0 <= F <= 1.0
        # Same rounded x as CLAIMS.md 2.1's accurate form -expm1(t log1p(-eta lam)); the two may
        # differ by the rounding of log1p, of the product and of expm1 (<= 1 ulp each; dF/dx x
        # <= F). For x > 1/2 the naive 1 - exp(-x) > 0.39 is within 2 ulp. In all: 4 EPS.
        ref = 1.0 - np.exp(-x) if x > 0.5 else -np.expm1(-x)
        assert F == pytest.approx(ref, rel=4 * EPS, abs=0)


@pytest.mark.claim("NAG-1")
@PROPERTY
@given(c=st.floats(1e-3, 1.999), steps=st.integers(0, 60), lam=st.floats(1e-2, 1e2))
def test_gd_filter_integer_steps_exact_including_oscillation(c, steps, lam):
    eta = c / lam
    q = 1 - Fraction(eta) * Fraction(lam)  # exact from the binary inputs
    exact = float(1 - q**steps)
    # |q| = |1 - eta lam| carries <= 1.5 EPS absolute error (the product eta lam < 2 rounds by
    # <= EPS, the subtraction by <= EPS / 2); d(q^t)/dq = t q^(t-1) with |q| <= 1 turns it into
    # <= 1.5 t EPS; exp(t log|q|) adds <= EPS (1 + t |log|q|| |q|^t) <= 2 EPS, the final
    # subtraction EPS / 2. Absolute error <= (4 t + 3) EPS.
    assert abs(gd_filter(lam, steps, eta) - exact) <= (4 * steps + 3) * EPS


def test_gd_filter_limits():
    lam = np.array([0.0, 1e-20, 0.3, 5.0])
    np.testing.assert_array_equal(gd_filter(lam, 0.0), 0.0)
    np.testing.assert_array_equal(gd_filter(lam, np.inf), [0.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(gd_filter(lam, np.inf, learning_rate=0.1), [0.0, 1.0, 1.0, 1.0])
    # tiny progress is not lost: F = lam t (1 - lam t / 2 + ...), second term below EPS
    assert gd_filter(1e-20, 3.0) == pytest.approx(3e-20, rel=EPS)
    assert gd_filter(1e-20, 3.0, learning_rate=1e-2) == pytest.approx(3e-22, rel=2 * EPS)
    # log F is resolvable where F rounds to 1 (the reason for log_gd_filter): log F = -exp(-x)
    # to relative 1e-22; the rounding of x = 50 moves it by <= x EPS relative, the evaluation by
    # <= 3 EPS
    assert gd_filter(1.0, 50.0) == 1.0
    assert log_gd_filter(1.0, 50.0) == pytest.approx(-np.exp(-50.0), rel=(50 + 3) * EPS)


def test_gd_filter_oscillating_descent_converges_at_infinite_time():
    # eta lam in (1, 2): q < 0, still convergent; np.inf is documented as "trained to convergence"
    np.testing.assert_array_equal(gd_filter([1.5, 0.2], np.inf, learning_rate=1.0), [1.0, 1.0])


@PROPERTY
@given(
    lam=st.lists(st.floats(0, 1e2), min_size=2, max_size=6),
    t1=st.floats(0, 1e2),
    dt=st.floats(0, 1e2),
)
def test_gd_filter_monotone_in_time_and_eigenvalue(lam, t1, dt):
    lam = np.sort(lam)
    for eta in (None, 0.5 / max(lam[-1], 1e-300)):
        f1, f2 = gd_filter(lam, t1, eta), gd_filter(lam, t1 + dt, eta)
        assert np.all((f1 >= 0) & (f2 <= 1) & (f2 >= f1))
        assert np.all(np.diff(f1) >= 0)


@pytest.mark.claim("NAG-1")
@PROPERTY
@given(lam=log_uniform(1e-3, 1e3), x=log_uniform(1e-3, 10), n_steps=st.integers(1, 10**4))
def test_small_step_descent_approaches_gradient_flow(lam, x, n_steps):
    # N steps of size t / N with t = x / lam: (1 - x/N)^N <= exp(-x), and
    # exp(-x) - (1 - x/N)^N <= N (exp(-x/N) - 1 + x/N) <= x^2 / (2 N).
    t = x / lam
    n_steps = max(n_steps, int(np.ceil(2 * x)))  # x / N <= 1/2: monotone descent
    diff = gd_filter(lam, n_steps, t / n_steps) - gd_filter(lam, t)
    # each filter within 4 EPS (test_gd_filter_matches_its_definition), F <= 1
    assert -8 * EPS <= diff <= x**2 / (2 * n_steps) + 8 * EPS


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: gd_filter([-1.0], 1.0), id="negative-eigenvalue"),
        pytest.param(lambda: gd_filter([np.nan], 1.0), id="nan-eigenvalue"),
        pytest.param(lambda: gd_filter([np.inf], 1.0), id="infinite-eigenvalue"),
        pytest.param(lambda: gd_filter([1.0], -1.0), id="negative-time"),
        pytest.param(lambda: gd_filter([1.0], np.nan), id="nan-time"),
        pytest.param(lambda: gd_filter([1.0], 1.0, learning_rate=0.0), id="zero-step"),
        pytest.param(lambda: gd_filter([1.0], 1.0, learning_rate=-0.1), id="negative-step"),
        pytest.param(lambda: gd_filter([1.0], 1.0, learning_rate=np.nan), id="nan-step"),
        pytest.param(
            lambda: gd_filter([1.0, 4.0], 1.0, learning_rate=0.5), id="eta-lam_max-2-diverges"
        ),
        pytest.param(
            lambda: gd_filter([1.5], 2.5, learning_rate=1.0), id="negative-q-fractional-power"
        ),
        pytest.param(
            lambda: log_gd_filter([1.5], 2.0, learning_rate=1.0), id="log-F-needs-monotone-descent"
        ),
        pytest.param(lambda: distill_filter([1.0], [[1.0, 2.0]], 1.0), id="2-d-generation-times"),
        pytest.param(lambda: distill_filter([1.0], 1.0, -1.0), id="negative-teacher-time"),
        pytest.param(lambda: switch_filter([1.0], -1.0, 1.0, 1.0), id="negative-switch-time"),
        pytest.param(lambda: matched_progress_time(0.0, 1.0, 1.0), id="zero-top-eigenvalue"),
        pytest.param(
            lambda: matched_progress_time(2.0, 1.0, 1.0, learning_rate=0.5),
            id="matched-time-q-zero",
        ),
        pytest.param(lambda: simulate_gd(np.eye(2), np.ones(2), -1, 0.1), id="negative-steps"),
        pytest.param(lambda: simulate_gd(np.eye(2), np.ones(2), 2.5, 0.1), id="fractional-steps"),
        pytest.param(
            lambda: self_distill(GradientDescentRegressor(), np.eye(2), np.ones(2), 0), id="0-gens"
        ),
        pytest.param(
            lambda: GradientDescentRegressor(learning_rate=1.0).fit(2 * np.eye(3), np.ones(3)),
            id="estimator-step-too-large",
        ),
    ],
)
def test_invalid_arguments_raise(call):
    with pytest.raises(ValueError):
        call()


# ------------------------------------------------------------------------- weights (NAG-1)
def _along(V, w):
    """Coordinates ``<v_k, w>`` of a weight vector (or of each row of a path)."""
    return np.asarray(w) @ V


@pytest.mark.claim("NAG-1")
@PROPERTY
@given(design=designs, c=st.floats(0.5, 1.8), n_steps=st.integers(1, 50))
def test_closed_form_matches_simulated_descent_along_every_direction(design, c, n_steps):
    X, y, V, lam, w_star = _design(*design)
    eta = c / lam[0]  # c > 1: the top directions oscillate (q < 0) and still converge
    path = simulate_gd(X, y, n_steps, eta, return_path=True)
    steps = np.arange(n_steps + 1)
    closed = gd_weights(X, y, steps, eta)
    model = GradientDescentRegressor(n_steps=n_steps, learning_rate=eta).fit(X, y)
    # the module docstring's bound: relative error <= 3e-9 along v_k for every step >= 1
    ref = _along(V, path[1:])
    for w in (closed[1:], model.coef_path(steps[1:])):
        np.testing.assert_allclose(_along(V, w), ref, rtol=CLAIM_RTOL, atol=0)
    np.testing.assert_array_equal(closed[0], 0.0)
    np.testing.assert_allclose(_along(V, model.coef_), ref[-1], rtol=CLAIM_RTOL, atol=0)
    assert model.intercept_ == 0.0
    # the filter itself, from the known spectrum
    h = gd_filter(lam, n_steps, eta)
    np.testing.assert_allclose(ref[-1], h * w_star, rtol=CLAIM_RTOL, atol=0)


@pytest.mark.claim("NAG-1")
@PROPERTY
@given(design=designs, x_max=st.floats(0.1, 10))
def test_gradient_flow_closed_form_matches_matrix_exponential(design, x_max):
    X, y, V, lam, w_star = _design(*design)
    t = x_max / lam[0]
    p = X.shape[1]
    # w' = X^T y - X^T X w, w(0) = 0: w(t) is the top-right block of expm(t [[-A, b], [0, 0]])
    M = np.zeros((p + 1, p + 1))
    M[:p, :p], M[:p, p] = -X.T @ X, X.T @ y
    w_ref = scipy.linalg.expm(t * M)[:p, p]
    # expm is accurate to about EPS ||t M|| ~ 1e-13 relative to ||w*||, and along v_k the weight
    # is >= (1 - exp(-0.1 * 0.7**2)) / 2 > 0.02: the claim's 1e-8 leaves a wide margin
    np.testing.assert_allclose(_along(V, gd_weights(X, y, t)), _along(V, w_ref), rtol=CLAIM_RTOL)
    # predictions A(t) y with A(t) = I - exp(-t X X^T) (CLAIMS.md 2.1)
    # (entries may be near 0: compared at the scale ||y||)
    A = np.eye(len(y)) - scipy.linalg.expm(-t * X @ X.T)
    scale = CLAIM_RTOL * np.linalg.norm(y)
    np.testing.assert_allclose(gd_predictions(X, y, t), A @ y, rtol=0, atol=scale)
    np.testing.assert_allclose(gd_predictions(X, y, t), X @ gd_weights(X, y, t), rtol=0, atol=scale)


@pytest.mark.claim("NAG-1")
def test_rank_deficient_design_stays_in_the_row_space():
    rng = np.random.default_rng(3)
    B = rng.standard_normal((6, 3))
    X = np.column_stack([B, B[:, :2], B[:, 0] + B[:, 2]])  # rank 3, six columns
    y = rng.standard_normal(6)
    dec = SpectralDecomposition.of(X)
    assert dec.singular_values.shape == (3,)
    eta = 0.9 / dec.eigenvalues[0]
    w_sim = simulate_gd(X, y, 40, eta)
    w = gd_weights(X, y, 40, eta)
    # same rounding budget as the module docstring; here ||w|| is the scale (norm comparison)
    np.testing.assert_allclose(w, w_sim, rtol=0, atol=CLAIM_RTOL * np.linalg.norm(w_sim))
    np.testing.assert_allclose(dec.left.T @ dec.left, np.eye(3), atol=8 * 6 * EPS)
    np.testing.assert_allclose(dec.right @ dec.right.T, np.eye(3), atol=8 * 6 * EPS)
    assert np.all(np.diff(dec.singular_values) <= 0)
    np.testing.assert_allclose((dec.left * dec.singular_values) @ dec.right, X, atol=1e-12)


# ------------------------------------------------------------------ distillation (THEORY 2.1)
@pytest.mark.claim("NAG-1")
@PROPERTY
@given(
    design=designs,
    c=st.floats(0.5, 1.0),
    teacher_steps=st.integers(1, 25),
    student_steps=st.integers(1, 25),
)
def test_student_on_teacher_predictions_has_the_product_filter(
    design, c, teacher_steps, student_steps
):
    X, y, V, lam, w_star = _design(*design)
    eta = c / lam[0]
    w_T = simulate_gd(X, y, teacher_steps, eta)
    w_S = simulate_gd(X, X @ w_T, student_steps, eta)
    S = distill_filter(lam, student_steps, teacher_steps, eta)
    # the rounding budget of the module docstring (filters >= 0.24^2 * 0.57 here)
    np.testing.assert_allclose(_along(V, w_S), S * w_star, rtol=CLAIM_RTOL, atol=0)
    F_T = gd_filter(lam, teacher_steps, eta)
    assert np.all((S >= 0) & (S <= F_T) & (F_T <= 1))
    # ||w_S|| <= ||w_T|| (CLAIMS.md 2.1), up to the simulations' rounding (module docstring)
    assert np.linalg.norm(w_S) <= np.linalg.norm(w_T) * (1 + CLAIM_RTOL)
    # generations: the closed form for a chain of students
    gens = self_distillation_weights(X, y, [teacher_steps, student_steps, 3], eta)
    w_3 = simulate_gd(X, X @ w_S, 3, eta)
    np.testing.assert_allclose(_along(V, gens), _along(V, [w_T, w_S, w_3]), rtol=CLAIM_RTOL)


@pytest.mark.claim("NAG-1")
@PROPERTY
@given(design=designs, c=st.floats(0.5, 1.0), n_steps=st.integers(1, 20), n_gen=st.integers(1, 4))
def test_self_distill_with_the_estimator_reproduces_the_closed_form(design, c, n_steps, n_gen):
    X, y, V, lam, w_star = _design(*design)
    eta = c / lam[0]
    models = self_distill(GradientDescentRegressor(n_steps, eta), X, y, n_gen)
    closed = self_distillation_weights(X, y, [n_steps] * n_gen, eta)
    # both from SVD formulas: errors O(r EPS cond(X)) ~ 1e-14 relative to ||w*||, filters
    # >= 0.24^4 > 3e-3 (module docstring)
    np.testing.assert_allclose(_along(V, [m.coef_ for m in models]), _along(V, closed), rtol=1e-8)
    np.testing.assert_allclose(
        _along(V, closed)[-1],
        distill_filter(lam, [n_steps] * (n_gen - 1), n_steps, eta) * w_star,
        rtol=CLAIM_RTOL,
    )


@pytest.mark.claim("NAG-4")
@PROPERTY
@given(design=designs, t=log_uniform(1e-2, 1e2), T=log_uniform(1e-2, 1e2))
def test_degenerate_teachers_nag4(design, t, T):
    seed, n, p = design
    X, y, V, lam, w_star = _design(seed, min(n, p), p)  # full row rank: X X^T invertible
    # an interpolating teacher (T = inf) changes nothing; t = inf reproduces the teacher
    np.testing.assert_array_equal(distill_filter(lam, t, np.inf), gd_filter(lam, t))
    np.testing.assert_array_equal(distill_filter(lam, np.inf, T), gd_filter(lam, T))
    teacher, student = self_distillation_weights(X, y, [np.inf, t])
    # the interpolating teacher fits y: backward-stable SVD, cond(X) <= 1 / 0.7, two products
    np.testing.assert_allclose(X @ teacher, y, rtol=0, atol=8 * len(y) * EPS * np.linalg.norm(y))
    # same filter values (1 * F(t) = F(t) exactly) through two matrix-product orders: each
    # sum of r products rounds by <= r EPS times the sum of the absolute terms, on either side
    dec = SpectralDecomposition.of(X)
    coef = np.abs(dec.left.T @ y / dec.singular_values)
    atol = 2 * len(lam) * EPS * (np.abs(dec.right.T) @ coef)
    assert np.all(np.abs(student - gd_weights(X, y, t)) <= atol)


# --------------------------------------------------------------------- matched time (NAG-3)
@PROPERTY
@given(
    lam=log_uniform(1e-2, 1e2),
    t=log_uniform(1e-2, 10),
    T=log_uniform(1e-2, 10),
    c=st.floats(0.01, 0.9),
)
@example(lam=100.0, t=10.0, T=10.0, c=0.5)  # S = 1 - 2 exp(-1000): log S underflows to -0.0
def test_matched_progress_time_inverts_the_filter(lam, t, T, c):
    for eta in (None, c / lam):
        tau = matched_progress_time(lam, t, T, eta)
        log_s = float(log_distill_filter(lam, t, T, eta))
        # First order, the error of log S (Delta) passes through tau = log(1 - S) / log q and
        # back through log F(tau) with gain exactly 1, so log F(tau) - log S is within 2 Delta
        # plus the rounding of log1mexp, of the division and of the product (<= 4 EPS + 6 EPS
        # |log S|). Delta <= 2 * 4 EPS (rounded exponents x, |dlogF/dx| x <= 1) + 4 EPS |log S|.
        budget = 32 * EPS * (1 + abs(log_s))
        assert np.isfinite(tau) and tau >= 0
        assert abs(log_gd_filter(lam, tau, eta) - log_s) <= budget
        # tau < min(t, T) exactly; relative error of tau is within the same budget
        assert tau <= min(t, T) * (1 + budget)


# ---------------------------------------------------------------------- switch filter (NAG-7)
@PROPERTY
@given(
    design=designs,
    c=st.floats(0.5, 1.0),
    s=st.integers(1, 15),
    u=st.integers(1, 15),
    T=st.integers(1, 15),
)
def test_switch_filter_matches_simulated_switch(design, c, s, u, T):
    X, y, V, lam, w_star = _design(*design)
    eta = c / lam[0]
    teacher = X @ simulate_gd(X, y, T, eta)
    w = simulate_gd(X, teacher, u, eta, w0=simulate_gd(X, y, s, eta))
    h = switch_filter(lam, s, u, T, eta)
    # h is a convex combination of F(s) and F(T) (eta lam <= 1): >= 0.24; three runs of <= 15 steps
    np.testing.assert_allclose(_along(V, w), h * w_star, rtol=CLAIM_RTOL, atol=0)
    # the limits s = 0 (distillation from the start) and u = 0 (labels only): F_T + (F_s - F_T)
    # (1 - F_u) rounds each of its three operations by <= EPS / 2 of a value <= 1
    F_T = gd_filter(lam, T, eta)
    for h0, ref in (
        (switch_filter(lam, 0, u, T, eta), distill_filter(lam, u, T, eta)),
        (switch_filter(lam, s, 0, T, eta), gd_filter(lam, s, eta)),
        (switch_filter(lam, s, np.inf, T, eta), F_T),
    ):
        assert np.all(np.abs(h0 - ref) <= 2 * EPS)


# ------------------------------------------------------------------------------ estimator
@parametrize_with_checks(
    [GradientDescentRegressor(), GradientDescentRegressor(n_steps=7, fit_intercept=True)]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_regressor_intercept_default_step_and_zero_steps():
    rng = np.random.default_rng(11)
    X, y = rng.standard_normal((15, 6)) + 3.0, rng.standard_normal(15) + 5.0
    m = GradientDescentRegressor(n_steps=25, fit_intercept=True).fit(X, y)
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    lam_max = np.linalg.eigvalsh(Xc.T @ Xc)[-1]
    # eigvalsh and the SVD agree to a few EPS * lam_max
    assert m.learning_rate_ == pytest.approx(1.0 / lam_max, rel=64 * EPS)
    w_sim = simulate_gd(Xc, yc, 25, m.learning_rate_)
    np.testing.assert_allclose(m.coef_, w_sim, rtol=0, atol=CLAIM_RTOL * np.linalg.norm(w_sim))
    # mean(y) - mean(X) @ coef_: a dot product of 6 terms and a subtraction
    x_bar = X.mean(axis=0)
    atol = 8 * EPS * (abs(y.mean()) + np.abs(x_bar) @ np.abs(m.coef_))
    assert abs(m.intercept_ - (y.mean() - x_bar @ m.coef_)) <= atol
    np.testing.assert_allclose(m.predict(X), X @ m.coef_ + m.intercept_, rtol=0, atol=0)
    np.testing.assert_array_equal(m.coef_path([25])[0], m.coef_)
    zero = GradientDescentRegressor(n_steps=0, fit_intercept=True).fit(X, y)
    np.testing.assert_array_equal(zero.coef_, 0.0)
    assert zero.intercept_ == y.mean()


def test_docstring_examples():
    result = doctest.testmod(dynamics, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
