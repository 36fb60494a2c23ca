"""Tests of kdtheory.theory: sequence-model risks (CLAIMS.md 1.3), the SM floor (RAT-1), RaT's
floor (RAT-5), the Picard rate (RAT-3) and the schedules and exponents (RAT-2).

The sequence model is exact on a circulant design (periodic kernel on an equispaced grid): the
Gram matrix is diagonal in the discrete Fourier basis, so the exact in-sample risk of every
linear smoother computed by :func:`kdtheory.exact.distillation_paths` must equal the
sequence-model formula with ``mu_k`` the eigenvalues of ``K / n`` and ``theta_k^2`` the discrete
Fourier energies of ``f``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kdtheory.exact import distillation_paths
from kdtheory.kernels import (
    PeriodicSobolev,
    SobolevMin,
    sobolev_min_eigenfunctions,
    sobolev_min_eigenvalues,
)
from kdtheory.shift import two_piece_shift
from kdtheory.student_teacher import picard_rate, teacher_operator
from kdtheory.theory import (
    METHODS,
    minimax_exponent,
    picard_rate_sequence,
    population_teacher_bias,
    rat_ridge_schedule,
    rate_tight_coefficients,
    sequence_filter,
    sequence_model_risk,
    sm_floor,
    unseen_energy,
)

EPS = np.finfo(float).eps
#: one subnormal step (2^-1074): the absolute rounding of an operation below the normal range
TINY = np.finfo(float).smallest_subnormal


def _circulant(n: int, order: int):
    X = (np.arange(n) / n).reshape(-1, 1)
    kernel = PeriodicSobolev(order=order)
    K = kernel(X, X)
    mu = np.fft.fft(K[0]).real / n  # one eigenvalue of K / n per frequency (incl. negative)
    return X, kernel, K, mu


def _fourier_energy(f: np.ndarray) -> np.ndarray:
    """``|DFT(f)_k|^2 / n^2``: energy per frequency, summing to ``mean(f^2)`` (Parseval)."""
    return np.abs(np.fft.fft(f)) ** 2 / len(f) ** 2


@pytest.mark.claim("RAT-1")
@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(8, 64),
    order=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**32 - 1),
    trig=st.booleans(),
    log_lam_T=st.floats(-3, 0),
    log_lam_S=st.lists(st.floats(-3, 0), min_size=1, max_size=4),
    noise_sd=st.floats(0.05, 2.0),
)
def test_sequence_model_exact_on_circulant_design(
    n, order, seed, trig, log_lam_T, log_lam_S, noise_sd
):
    X, kernel, K, mu = _circulant(n, order)
    rng = np.random.default_rng(seed)
    if trig:  # a random trigonometric polynomial of degree < n / 2
        x = X[:, 0]
        deg = int(rng.integers(1, n // 2))
        ks = np.arange(deg + 1)
        f = np.cos(2 * np.pi * np.outer(x, ks)) @ rng.standard_normal(deg + 1) + np.sin(
            2 * np.pi * np.outer(x, ks)
        ) @ rng.standard_normal(deg + 1)
    else:
        f = rng.standard_normal(n)
    theta2 = _fourier_energy(f)
    assert np.sum(theta2) == pytest.approx(np.mean(f**2), rel=10 * n * EPS)  # Parseval
    assert np.all(mu > 0)
    lam_T, lam_S = 10.0**log_lam_T, 10.0 ** np.asarray(log_lam_S)
    paths = distillation_paths(
        X,
        X,
        X,
        kernel=kernel,
        teacher_ridge=n * lam_T,
        student_ridges=n * lam_S,
        methods=("teacher", "krr", "sm", "rat"),
    )
    # Floating point: eigh and the FFT give the eigenvalues of K with absolute error
    # <= c eps ||K||_2 (c = 10 n, Wilkinson); a filter h(d) = d / (d + a) (and RaT's, a function
    # of d / a_T and d / a_S) moves by at most 2 |delta d| / a_min, a_min = n min(lam_T, lam_S),
    # so |delta h_k| <= delta; the risk sum_k (1 - h_k)^2 theta_k^2 + (sigma^2 / n) sum_k h_k^2
    # then moves by at most 2 delta (sum theta_k^2 + sigma^2) (as 0 <= h_k <= 1), x 2 for the
    # other eigenvalue computation.
    delta = 2 * 10.0 * n * EPS * np.linalg.norm(K, 2) / (n * min(lam_T, float(lam_S.min())))
    atol = 2 * 2 * delta * (np.mean(f**2) + noise_sd**2)
    # i.e. relative 1e-8 of the scale (lam_T, lam_S >= 1e-3 and n <= 64 make sure of it)
    assert atol <= 1e-8 * (np.mean(f**2) + noise_sd**2)
    for method in ("teacher", "krr", "sm", "rat"):
        exact = paths[method].risk(f, f, noise_sd)
        seq = sequence_model_risk(
            method,
            mu,
            theta2,
            n=n,
            noise_sd=noise_sd,
            teacher_ridge=lam_T,
            student_ridge=lam_T if method == "teacher" else lam_S,
        )
        L = 1 if method == "teacher" else len(lam_S)
        for key in ("bias", "variance", "risk"):
            np.testing.assert_allclose(seq[key][:L], exact[key], rtol=0, atol=atol, err_msg=key)


# ------------------------------------------------------------------------ SM floor, RAT-1
spectra = st.integers(1, 30).flatmap(
    lambda K: st.tuples(
        hnp.arrays(float, K, elements=st.floats(0.0, 10.0)),
        hnp.arrays(float, K, elements=st.floats(0.0, 10.0)),
    )
)


@pytest.mark.claim("RAT-1")
@settings(max_examples=200, deadline=None)
@given(
    spec=spectra,
    lam_T=st.floats(1e-6, 10.0),
    lam_S=st.lists(st.floats(0.0, 10.0), min_size=1, max_size=5),
)
def test_sm_floor_bounds_sm_bias(spec, lam_T, lam_S):
    mu, theta2 = spec
    floor = sm_floor(mu, theta2, lam_T)
    bias = sequence_model_risk(
        "sm", mu, theta2, n=10, noise_sd=1.0, teacher_ridge=lam_T, student_ridge=lam_S
    )["bias"]
    # 1 - a_k s_k >= 1 - s_k = lam_T / (mu_k + lam_T) >= 0 exactly; in floating point each of the
    # two factors is within 2 eps (absolute) of its value, so each squared term within
    # ~4 eps + 4 eps^2 and the sums within 8 eps sum theta_k^2 (plus the relative error of
    # summing K nonnegative terms, K eps); below the normal range rounding is absolute, one
    # subnormal step per operation
    slack = (8 + len(mu)) * (EPS * float(np.sum(theta2)) + TINY)
    assert np.all(bias >= floor - slack)
    assert floor >= unseen_energy(mu, theta2) - slack  # blind directions count fully in the floor


@pytest.mark.claim("RAT-1")
@settings(max_examples=100, deadline=None)
@given(spec=spectra, lam_T=st.floats(1e-6, 10.0), noise_sd=st.floats(0.0, 5.0))
def test_sm_floor_attained_at_zero_student_ridge_large_n(spec, lam_T, noise_sd):
    mu, theta2 = spec
    floor = sm_floor(mu, theta2, lam_T)
    slack = (8 + len(mu)) * (EPS * float(np.sum(theta2)) + TINY)  # as in the test above
    for n in (10, 10**6, 10**12):
        r = sequence_model_risk(
            "sm", mu, theta2, n=n, noise_sd=noise_sd, teacher_ridge=lam_T, student_ridge=0.0
        )
        assert r["bias"][0] == pytest.approx(floor, abs=slack)
        # variance (sigma^2 / n) sum h_k^2 with 0 <= h_k <= 1: -> 0 as n -> inf
        assert 0.0 <= r["variance"][0] <= noise_sd**2 * len(mu) / n * (1 + 4 * EPS)
        assert r["risk"][0] >= floor - slack


@pytest.mark.claim("RAT-1")
def test_sm_floor_positive_and_independent_of_n():
    mu = sobolev_min_eigenvalues(np.arange(1, 200))
    theta2 = rate_tight_coefficients(np.arange(1, 200)) ** 2
    floor = sm_floor(mu, theta2, 1e-2)
    assert floor > 0
    risks = [
        sequence_model_risk(
            "sm", mu, theta2, n=n, noise_sd=1.0, teacher_ridge=1e-2, student_ridge=1e-6
        )["risk"][0]
        for n in (10**2, 10**4, 10**6)
    ]
    assert all(r >= floor for r in risks)
    # while RaT at the same lam_S goes well below the SM floor
    rat = sequence_model_risk(
        "rat", mu, theta2, n=10**6, noise_sd=1.0, teacher_ridge=1e-2, student_ridge=1e-6
    )["risk"][0]
    assert rat < 0.5 * floor


# ------------------------------------------------------------------------- RaT floor, RAT-5
@pytest.mark.claim("RAT-5")
@settings(max_examples=150, deadline=None)
@given(
    spec=st.integers(1, 30).flatmap(
        lambda K: st.tuples(
            hnp.arrays(float, K, elements=st.floats(1e-6, 10.0)),
            hnp.arrays(float, K, elements=st.floats(0.0, 10.0)),
            hnp.arrays(bool, K),
        )
    ),
    lam_T=st.floats(1e-6, 10.0),
)
def test_rat_bias_vanishes_except_unseen(spec, lam_T):
    mu_pos, theta2, blind = spec
    mu = np.where(blind, 0.0, mu_pos)
    unseen = unseen_energy(mu, theta2)
    assert unseen == pytest.approx(float(np.sum(theta2[blind])), rel=len(mu) * EPS)
    eff = mu * mu / (mu + lam_T)  # effective eigenvalues nu_k s_k (nu = mu)
    min_eff = float(eff[~blind].min()) if np.any(~blind) else 1.0
    lam_S = min_eff * 10.0 ** -np.arange(0, 12)
    bias = sequence_model_risk(
        "rat", mu, theta2, n=10, noise_sd=0.0, teacher_ridge=lam_T, student_ridge=lam_S
    )["bias"]
    total = float(np.sum(theta2))
    # rounding of the filters and the sum, as above; below the normal range (theta_k^2 ~ 1e-311
    # is drawn) rounding is absolute, one subnormal step (2^-1074) per operation
    slack = (8 + len(mu)) * (EPS * total + TINY)
    # bias - unseen = sum_{seen} (lam_S / (lam_S + eff_k))^2 theta_k^2 <= (lam_S / min eff)^2 ...
    assert np.all(bias >= unseen - slack)
    assert np.all(bias - unseen <= (lam_S / min_eff) ** 2 * total + slack)
    assert np.all(np.diff(bias) <= slack)  # non-increasing as lam_S decreases
    # and exactly the unseen energy at lam_S = 0
    bias0 = sequence_model_risk(
        "rat", mu, theta2, n=10, noise_sd=0.0, teacher_ridge=lam_T, student_ridge=0.0
    )["bias"][0]
    assert bias0 == pytest.approx(unseen, abs=slack)
    # the SM floor is at least RaT's floor (RAT-5)
    assert sm_floor(mu, theta2, lam_T) >= bias0 - slack


# ---------------------------------------------------- population teacher bias vs sm_floor
@pytest.mark.claim("RAT-1")
@pytest.mark.parametrize("lam_T", [1e-2, 1e-3])
def test_population_teacher_bias_without_shift_is_sm_floor(lam_T):
    k = np.arange(1, 5)
    theta = np.array([1.0, -0.5, 0.3, 0.2])

    def f(X):
        return sobolev_min_eigenfunctions(X[:, 0], k) @ theta

    floor = sm_floor(sobolev_min_eigenvalues(k), theta**2, lam_T)
    shift = two_piece_shift(1.0)
    v = {N: population_teacher_bias(SobolevMin(), f, lam_T, shift, n_quad=N) for N in (500, 1000)}
    v[2000] = population_teacher_bias(SobolevMin(), f, lam_T, shift, n_quad=2000)
    err = {N: abs(val - floor) for N, val in v.items()}
    # Nystrom on the midpoint rule: the error shrinks with the cell width h = 1 / N ...
    assert err[2000] < err[1000] < err[500]
    # ... at order p >= 1 (observed: 2), so that e(N) <= |v(N) - v(N/2)| / (2^p - 1) bounds the
    # error by the observable difference of two resolutions
    assert err[2000] <= abs(v[2000] - v[1000])
    assert err[1000] <= abs(v[1000] - v[500])
    assert err[1000] / err[2000] >= 2.0  # order >= 1


@pytest.mark.claim("RAT-1")
def test_population_teacher_bias_grows_under_shift():
    # the teacher's bias is largest where the source is thin: a shift towards [1/2, 1] with a
    # function that varies there raises the target-measured bias (RAT-1 with shift)
    k = np.arange(1, 5)
    theta = np.array([0.2, 0.3, -0.5, 1.0])

    def f(X):
        return sobolev_min_eigenfunctions(X[:, 0], k) @ theta

    no_shift = population_teacher_bias(SobolevMin(), f, 1e-3, two_piece_shift(1.0), n_quad=500)
    shifted = population_teacher_bias(SobolevMin(), f, 1e-3, two_piece_shift(4.0), n_quad=500)
    assert shifted > no_shift > 0


# ------------------------------------------------------------------------- Picard, RAT-3
@pytest.mark.claim("RAT-3")
@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(8, 48),
    order=st.sampled_from([1, 2]),
    log_lam_T=st.floats(-3, 0),
    log_lam_S=st.floats(-3, 0),
    step=st.floats(0.1, 2.0),
)
def test_picard_rate_sequence_on_circulant_design(n, order, log_lam_T, log_lam_S, step):
    X, kernel, K, mu = _circulant(n, order)
    lam_T, lam_S = 10.0**log_lam_T, 10.0**log_lam_S
    G = teacher_operator(K, K, n * lam_T)
    rho = picard_rate(student_gram=K, coupling=G @ K, student_ridge=n * lam_S, step=step)
    seq = picard_rate_sequence(mu, teacher_ridge=lam_T, student_ridge=lam_S, step=step)
    # M is symmetric in exact arithmetic (K and C commute), so its eigenvalues move by at most
    # ||delta M||; M is formed by two backward-stable solves, relative error
    # <= 10 n eps cond(K + step a_S I) cond(K + a_T I).
    I = np.eye(n)
    cond = np.linalg.cond(K + step * n * lam_S * I) * np.linalg.cond(K + n * lam_T * I)
    assert rho == pytest.approx(seq, rel=10 * n * EPS * cond, abs=10 * n * EPS * cond)


# ----------------------------------------------------------------- exponents and schedules
def test_minimax_exponent():
    assert minimax_exponent(1.0) == -2 / 3
    assert minimax_exponent(2.0) == -4 / 5
    for bad in (0.5, 0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="decay must exceed 1/2"):
            minimax_exponent(bad)


@given(
    decay=st.floats(0.6, 4.0),
    lam_T=st.floats(1e-6, 10.0),
    scale=st.floats(0.1, 10.0),
)
def test_rat_ridge_schedule_decreasing_in_n(decay, lam_T, scale):
    n = np.array([10, 100, 1000, 10**4, 10**6])
    lam_S = rat_ridge_schedule(n, decay, lam_T, scale)
    assert lam_S.shape == n.shape
    assert np.all(lam_S > 0)
    assert np.all(np.diff(lam_S) < 0)
    c = scale * n ** minimax_exponent(decay)
    np.testing.assert_allclose(lam_S, c * c / (c + lam_T), rtol=4 * EPS)
    # for a strongly regularized teacher (c << lam_T) the schedule is ~ c^2 / lam_T, much below c
    assert np.all(lam_S <= c)


def test_sequence_filter_forms_and_errors():
    mu = np.array([0.0, 0.5, 2.0])
    h = {m: sequence_filter(m, mu, teacher_ridge=1.0, student_ridge=[0.5, 1.0]) for m in METHODS}
    s = np.array([0.0, 1 / 3, 2 / 3])[:, None]
    a = np.array([[0.0, 0.0], [0.5, 1 / 3], [0.8, 2 / 3]])
    np.testing.assert_allclose(h["teacher"], np.broadcast_to(s, (3, 2)), rtol=4 * EPS)
    np.testing.assert_allclose(h["krr"], a, rtol=4 * EPS)
    np.testing.assert_allclose(h["sm"], a * s, rtol=4 * EPS)
    eff = mu[:, None] * s
    np.testing.assert_allclose(
        h["rat"], np.where(eff > 0, eff / (np.array([0.5, 1.0]) + eff), 0), rtol=4 * EPS
    )
    with pytest.raises(ValueError, match="method must be one of"):
        sequence_filter("kd", mu, teacher_ridge=1.0, student_ridge=1.0)
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="teacher_ridge must be finite and >= 0"):
            sequence_filter("sm", mu, teacher_ridge=bad, student_ridge=1.0)
        with pytest.raises(ValueError, match="student_ridge must be finite and >= 0"):
            sequence_filter("sm", mu, teacher_ridge=1.0, student_ridge=[1.0, bad])
        with pytest.raises(ValueError, match="teacher_ridge must be finite and >= 0"):
            sm_floor(mu, np.ones(3), bad)
