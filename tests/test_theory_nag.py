"""Tests of the NAG-2..NAG-5 gap functions of kdtheory.theory and of ``log_gd_filter``.

Each gap is compared with its definition (THEORY.md 2.2) evaluated in 100-digit decimal arithmetic
from the same binary inputs, and the inequality of the claim is checked on that exact value.
Float results must lie within a rounding budget from a first-order forward error analysis:

- the exponent ``x = -t log q``: flow ``log q = -lam`` is exact and the product rounds by
  ``EPS / 2``; descent rounds ``z = eta lam`` by ``EPS / 2``, which ``log1p(-z)`` amplifies by
  ``kappa(z) = z / ((1 - z) |log1p(-z)|)`` and to which it adds 1 ulp, then the product ``EPS / 2``;
- ``log F = log(1 - exp(-x))`` has ``|d log F / d log x| |log F| = x / (e^x - 1) <= 1``, so a
  relative error ``dx`` of ``x`` moves ``log F`` by ``dx x / (e^x - 1)``; evaluating it (``expm1``
  then ``log``, or ``exp`` then ``log1p``) adds ``<= 3 EPS |log F|``;
- every addition or subtraction rounds by ``EPS / 2`` of its result.

The budgets are first order in ``EPS`` (second-order terms are ``O(EPS^2)`` relative), and a
value below the normal range carries one more absolute rounding of a subnormal quantum.
"""

from __future__ import annotations

from decimal import Decimal, getcontext, localcontext

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kdtheory.dynamics import gd_filter, log_gd_filter
from kdtheory.theory import (
    bottom_top_log_ratios,
    filter_order_bound,
    filter_order_ratio,
    generation_gaps,
    matched_progress_gap,
    ratio_exaggeration_gap,
    scalar_exaggeration_gap,
)

EPS = np.finfo(float).eps
TINY = np.finfo(float).smallest_subnormal
PREC = 100  # decimal digits of the reference
PROPERTY = settings(max_examples=60, deadline=None)


# ------------------------------------------------------------------- 100-digit reference
def _expm1(y: Decimal) -> Decimal:
    if abs(y) >= Decimal("0.5"):
        return y.exp() - 1
    total, term, k = Decimal(0), y, 1
    while term != 0 and abs(term) > abs(total) * Decimal(10) ** -(getcontext().prec + 2):
        total += term
        k += 1
        term = term * y / k
    return total


def _log1p(z: Decimal) -> Decimal:
    if abs(z) >= Decimal("0.5"):
        return (1 + z).ln()
    total, power, k = Decimal(0), z, 1
    while power != 0 and abs(power) / k > abs(total) * Decimal(10) ** -(getcontext().prec + 2):
        total += power / k if k % 2 else -power / k
        k += 1
        power *= z
    return total


def _log1mexp(y: Decimal) -> Decimal:
    """``log(1 - e^y)`` for ``y < 0``, without cancellation."""
    if y > -Decimal(2).ln():
        return (-_expm1(y)).ln()
    return _log1p(-y.exp())


def _ell(lam: float, eta: float | None) -> Decimal:
    """``-log q``: ``lam`` for flow, ``-log1p(-eta lam)`` for descent (the rounded product)."""
    if eta is None:
        return Decimal(lam)
    return -_log1p(-Decimal(eta * lam))


def exact_log_f(lam: float, t: float, eta: float | None = None, prec: int = PREC) -> Decimal:
    with localcontext(prec=prec):
        if np.isinf(t):
            return Decimal(0)
        return _log1mexp(-Decimal(t) * _ell(lam, eta))


def exact_matched_gap(lam_top, lam_bottom, ts, T, eta, prec: int = PREC) -> Decimal:
    """``log F_j(tau) - log S_j`` with ``F_k(tau) = S_k`` (NAG-3), from the definitions."""
    with localcontext(prec=prec):
        log_s_top = sum(exact_log_f(lam_top, s, eta, prec) for s in (T, *ts))
        tau = -_log1mexp(log_s_top) / _ell(lam_top, eta)
        log_f_tau = _log1mexp(-tau * _ell(lam_bottom, eta))
        return log_f_tau - sum(exact_log_f(lam_bottom, s, eta, prec) for s in (T, *ts))


def exact_scalar_gap(a, c, r) -> Decimal:
    """``log g_r(a c) - log g_r(a) - log g_r(c)``, ``g_r(x) = 1 - (1 - x)^r``, decimal inputs."""
    with localcontext(prec=PREC):
        return sum(sign * _log1mexp(r * _log1p(-x)) for sign, x in ((1, a * c), (-1, a), (-1, c)))


# ------------------------------------------------------------------------- rounding budget
def _dx(lam: float, eta: float | None) -> float:
    """Relative error of the rounded exponent ``x = -t log q`` (module docstring)."""
    if eta is None:
        return EPS / 2
    z = eta * lam
    kappa = z / ((1 - z) * abs(np.log1p(-z)))
    return (kappa / 2 + 1.5) * EPS


def _damp(x: float) -> float:
    """``x / (e^x - 1)`` in ``(0, 1]``, the sensitivity of ``log F`` to ``log x``."""
    return 1.0 if x == 0 else float(x * np.exp(-x) / -np.expm1(-x)) if x < 700 else 0.0


def _term(lam: float, t: float, eta: float | None) -> tuple[float, float]:
    """``(|log F|, budget)`` of one ``log_gd_filter`` value."""
    if np.isinf(t):
        return 0.0, 0.0
    log_f = abs(float(exact_log_f(lam, t, eta)))
    x = t * float(_ell(lam, eta))
    return log_f, _dx(lam, eta) * _damp(x) + 3 * EPS * log_f + 2 * TINY


def _sum_budget(terms) -> float:
    """Budget of a sum of ``log_gd_filter`` values: their own plus one rounding per addition."""
    mags, budgets = zip(*terms, strict=True)
    return sum(budgets) + len(terms) * EPS / 2 * sum(mags)


# ---------------------------------------------------------------------------- strategies
def log_uniform(lo: float, hi: float):
    """Floats spread evenly over the decades between ``lo`` and ``hi``."""
    return st.floats(np.log10(lo), np.log10(hi)).map(lambda e: 10.0**e)


spectra = (
    st.tuples(log_uniform(1e-3, 1e3), st.floats(-6, 0, exclude_max=True))
    .map(
        lambda p: (p[0], p[0] * 10.0 ** p[1])  # (lam_top, lam_bottom), lam_bottom < lam_top
    )
    .filter(lambda p: p[1] < p[0])
)
times = log_uniform(1e-3, 1e3)
generations = st.lists(times, min_size=1, max_size=3)
steps = st.one_of(st.none(), log_uniform(1e-6, 0.9))  # None: flow; c: eta = c / lam_top


# ------------------------------------------------------------------------- log F accuracy
@PROPERTY
@given(lam=log_uniform(1e-3, 1e3), t=log_uniform(1e-3, 1e3), c=steps)
def test_log_gd_filter_matches_100_digit_reference(lam, t, c):
    eta = None if c is None else c / lam
    log_f, budget = _term(lam, t, eta)
    exact = float(exact_log_f(lam, t, eta))
    assert abs(log_gd_filter(lam, t, eta) - exact) <= budget
    assert float(log_gd_filter(lam, t, eta)) <= 0.0


# -------------------------------------------------------------------------------- NAG-2
@PROPERTY
@given(spectrum=spectra, ts=generations, T=times, c=steps)
def test_ratio_exaggeration_gap_nag2(spectrum, ts, T, c):
    lam_top, lam_bottom = spectrum
    eta = None if c is None else c / lam_top
    gap = float(ratio_exaggeration_gap(lam_top, lam_bottom, ts, T, eta))
    # definitions: log(F_j(T)/F_k(T)) - log(S_j/S_k) = sum_i [log F_k(t_i) - log F_j(t_i)]
    exact = sum(exact_log_f(lam_top, t, eta) - exact_log_f(lam_bottom, t, eta) for t in ts)
    assert exact > 0  # the claim: F_k(t) > F_j(t) for lam_k > lam_j, t > 0
    # computed from the definitions: each teacher term twice, plus 2 m + 3 roundings
    terms = [_term(lam, s, eta) for lam in (lam_top, lam_bottom) for s in (T, T, *ts)]
    assert abs(gap - float(exact)) <= _sum_budget(terms)


def test_nag2_gap_resolved_where_progress_rounds_to_one():
    # F = 1 - e^-40 and 1 - e^-80 both round to 1.0: the ratio of fractions cannot see the gap.
    # With a long teacher (T = 50) every log term is ~e^-40 and so is its rounding budget scale.
    assert gd_filter(1.0, 40.0) == gd_filter(2.0, 40.0) == 1.0
    exact = float(exact_log_f(2.0, 40.0) - exact_log_f(1.0, 40.0))
    terms = [_term(lam, s, None) for lam in (2.0, 1.0) for s in (50.0, 50.0, 40.0)]
    assert exact > _sum_budget(terms)  # resolvable in float64
    gap = float(ratio_exaggeration_gap(2.0, 1.0, 40.0, 50.0))
    assert abs(gap - exact) <= _sum_budget(terms)
    assert gap > 0


@pytest.mark.parametrize("c", [None, 0.5])
def test_nag2_equality_limits(c):
    lam = np.array([1e-3, 0.7, 30.0])
    eta = None if c is None else c / lam.max()
    np.testing.assert_array_equal(ratio_exaggeration_gap(lam, lam, 2.0, 3.0, eta), 0.0)
    np.testing.assert_array_equal(ratio_exaggeration_gap(lam.max(), lam, np.inf, 3.0, eta), 0.0)


# -------------------------------------------------------------------------------- NAG-3
def _rel_term(lam: float, t: float, eta: float | None) -> float:
    """Relative budget of one ``log_gd_filter`` value; the ratio is taken in decimal, so that it
    stays finite where ``log F`` underflows (``dx x / (e^x - 1) / |log F| -> dx x``)."""
    with localcontext(prec=PREC):
        x = Decimal(t) * _ell(lam, eta)
        gain = float(x / _expm1(x) / abs(_log1mexp(-x)))
    return _dx(lam, eta) * gain + 3 * EPS


def _matched_budget(lam_top, lam_bottom, ts, T, eta, exact_gap) -> float:
    """Budget of ``matched_progress_gap`` (first order; module docstring).

    ``y = log S_k`` (relative budget ``ry``: terms of one sign) -> ``z = log(1 - e^y)`` with
    ``dz = ry |y| / (e^{-y} - 1) + 3 EPS |z|`` -> ``tau = z / log q_k``, relative
    ``dz / |z| + dx_k + EPS / 2`` -> ``x_j = tau ell_j`` -> ``log F_j(tau)``.
    """
    ry = max(_rel_term(lam_top, s, eta) for s in (T, *ts)) + len(ts) * EPS / 2
    bottom = [_term(lam_bottom, s, eta) for s in (T, *ts)]
    with localcontext(prec=PREC):
        y = sum(exact_log_f(lam_top, s, eta) for s in (T, *ts))
        z = _log1mexp(y)
        x_j = float(-z / _ell(lam_top, eta) * _ell(lam_bottom, eta))
        y_gain = float(-y / _expm1(-y))  # |y| e^y / (1 - e^y) <= 1
    dz = ry * y_gain + 3 * EPS * abs(float(z))
    rel_tau = dz / abs(float(z)) + _dx(lam_top, eta) + EPS / 2
    log_f_tau = abs(float(exact_gap)) + sum(m for m, _ in bottom)
    d_tau = _damp(x_j) * (rel_tau + _dx(lam_bottom, eta)) + 3 * EPS * log_f_tau
    return d_tau + _sum_budget(bottom) + EPS * log_f_tau


@PROPERTY
@given(spectrum=spectra, ts=generations, T=times, c=steps)
@example(spectrum=(100.0, 50.0), ts=[10.0], T=10.0, c=None)  # log S_k = -2e-434 underflows
def test_matched_progress_gap_nag3(spectrum, ts, T, c):
    lam_top, lam_bottom = spectrum
    eta = None if c is None else c / lam_top
    exact = exact_matched_gap(lam_top, lam_bottom, ts, T, eta)
    gap = float(matched_progress_gap(lam_top, lam_bottom, ts, T, eta))
    assert abs(gap - float(exact)) <= _matched_budget(lam_top, lam_bottom, ts, T, eta, exact)
    # The claim, from the definitions: the gap is about exp(-x_j) where a time makes the bottom
    # direction converge (x_j = t ell_j), next to terms of size up to |log F_j| <= 35: resolving
    # it takes ~x_j / ln 10 + 35 digits. Checked wherever 400 digits suffice.
    x_j = max(s * float(_ell(lam_bottom, eta)) for s in (T, *ts))
    digits = PREC + int(x_j / np.log(10))
    if digits <= 400:
        assert exact_matched_gap(lam_top, lam_bottom, ts, T, eta, prec=digits) > 0


fractions = st.one_of(log_uniform(1e-12, 0.5), st.floats(0.5, 1, exclude_max=True))


@PROPERTY
# normal floats only: r log1p(-x) must not be subnormal, where products lose the EPS / 2 bound
@given(a=fractions, c=fractions, r=st.one_of(log_uniform(1e-6, 1.0), st.just(1.0)))
def test_scalar_exaggeration_gap_nag3(a, c, r):
    gap = float(scalar_exaggeration_gap(a, c, r))
    exact = exact_scalar_gap(Decimal(a), Decimal(c), Decimal(r))
    assert exact > 0 if r < 1 else abs(exact) < Decimal(10) ** -(PREC - 10)
    # per term: x rounds (a c: EPS/2), log1p(-x) amplifies it by kappa(x) and adds 1 ulp, r * .
    # adds EPS/2; log1mexp(w) passes a relative error of w with gain |w| / (e^|w| - 1) and adds
    # 3 EPS |log g|; two subtractions EPS/2 each of <= the sum of magnitudes
    budget, mags = 0.0, 0.0
    for x, dx in ((a * c, EPS / 2), (a, 0.0), (c, 0.0)):
        w = abs(r * np.log1p(-x))
        log_g = abs(float(np.log(-np.expm1(-w))))  # w >= 1e-6 * 1e-24: no underflow
        kappa = x / ((1 - x) * abs(np.log1p(-x)))
        budget += _damp(w) * (kappa * dx + 1.5 * EPS) + 3 * EPS * log_g
        mags += log_g
    assert abs(gap - float(exact)) <= budget + EPS * mags


@PROPERTY
@given(spectrum=spectra, u=log_uniform(1e-4, 1.0), v=log_uniform(1e-4, 1.0))
def test_scalar_form_is_the_matched_gap(spectrum, u, v):
    # THEORY.md 2.2: with a = F_k(t), c = F_k(T), r = lam_j / lam_k (flow), the matched gap is
    # log g_r(a c) - log g_r(a) - log g_r(c): an identity between the two definitions
    lam_top, lam_bottom = spectrum
    t, T = 50 * u / lam_top, 50 * v / lam_top  # lam_top t, lam_top T <= 50
    with localcontext(prec=PREC):
        a, c = (1 - (-Decimal(lam_top) * Decimal(s)).exp() for s in (t, T))
        r = Decimal(lam_bottom) / Decimal(lam_top)
        scalar = exact_scalar_gap(a, c, r)
        matched = exact_matched_gap(lam_top, lam_bottom, [t], T, None)
        # 1 - a = e^-50 keeps PREC - 22 digits inside a = 1 - e^-50: log1p(-a) and the logs
        # built on it are accurate to ~1e-78 absolute; 1e-70 leaves room for the sums
        assert abs(scalar - matched) <= Decimal(10) ** -(PREC - 30) * (1 + abs(matched))


def test_scalar_gap_degenerate_fractions():
    # a or c = 1 (a model trained to convergence): g_r(a c) = g_r(a) exactly, log g_r(1) = 0
    assert scalar_exaggeration_gap(0.3, 1.0, 0.5) == 0.0
    assert scalar_exaggeration_gap(1.0, 0.3, 0.5) == 0.0
    # a = 0 is accepted by the docstring ([0, 1]); log g_r(0) = -inf makes the log-gap 0/0:
    # either reject it or return the limit a -> 0, log c - log g_r(c) (since g_r(x) ~ r x)
    c, r = 0.3, 0.5
    try:
        value = scalar_exaggeration_gap(0.0, c, r)
    except ValueError:
        return
    assert value == pytest.approx(np.log(c) - np.log(-np.expm1(r * np.log1p(-c))), rel=1e-12)


# -------------------------------------------------------------------------------- NAG-4
@PROPERTY
@given(spectrum=spectra, ts=st.lists(times, min_size=2, max_size=4), c=steps)
@example(spectrum=(2.0, 1.0), ts=[1e-6, 40.0], c=None)  # short teacher, long student
def test_generation_gaps_nag4(spectrum, ts, c):
    lam_top, lam_bottom = spectrum
    eta = None if c is None else c / lam_top
    gaps = generation_gaps(lam_top, lam_bottom, ts, eta)
    ratios = bottom_top_log_ratios(lam_top, lam_bottom, ts, eta)
    step = [exact_log_f(lam_bottom, s, eta) - exact_log_f(lam_top, s, eta) for s in ts]
    partial = [float(sum(step[: g + 1])) for g in range(len(ts))]
    assert all(s < 0 for s in step)  # the claim: every generation lowers the ratio
    acc = 0.0
    for g, s in enumerate(ts):
        own = _sum_budget([_term(lam_bottom, s, eta), _term(lam_top, s, eta)])
        acc += own + EPS / 2 * abs(partial[g])  # cumsum: one rounding per partial sum
        assert abs(ratios[g] - partial[g]) <= acc
        if g:
            # gap_g = P_{g-1} - P_g: the error of P_{g-1} cancels; the new step and its sum round
            budget = own + EPS / 2 * (abs(partial[g]) + abs(float(step[g])))
            assert abs(gaps[g - 1] + float(step[g])) <= budget
            # positive wherever this generation's own step is resolvable (the module promises
            # resolvable gaps where the progress fractions round to 1)
            if -float(step[g]) > 2 * own:
                assert gaps[g - 1] > 0


# -------------------------------------------------------------------------------- NAG-5
@PROPERTY
@given(lam=log_uniform(1e-12, 1e2), ts=st.lists(times, min_size=1, max_size=3), c=steps)
def test_filter_order_ratio_nag5(lam, ts, c):
    eta = None if c is None else c / lam
    ratio = float(filter_order_ratio(lam, ts, eta))
    bound = float(filter_order_bound(lam, ts, eta))
    with localcontext(prec=PREC):
        ell = _ell(lam, eta)
        exact = Decimal(1)
        for s in ts:
            x = ell * Decimal(s)
            exact *= -_expm1(-x) / x
    # each factor exprel(-x): x rounds by dx, |d log exprel / d log x| <= 1, exprel itself within
    # 2 ulp, the product EPS / 2
    rel = sum(_dx(lam, eta) + 2.5 * EPS for _ in ts)
    assert ratio == pytest.approx(float(exact), rel=rel, abs=0)
    x_sum = float(ell) * sum(ts)
    # 1 - x/2 <= (1 - e^-x)/x <= 1 on x >= 0; 1 - prod(1 - a_i) <= sum a_i. The bound is
    # 1 - (a product of m factors <= 1): m + 1 roundings of values <= 1, plus the rounding of the
    # x_i inside the factors (dx x_i / 2) and of x_sum here (m EPS relative)
    slack = (len(ts) + 1) * EPS / 2 + x_sum / 2 * (_dx(lam, eta) + len(ts) * EPS)
    assert 1 - bound - rel - slack <= ratio <= 1 + rel
    assert bound <= x_sum / 2 + slack
    # at the bottom of the spectrum the ratio tends to 1 at first order: 1 - ratio ~ x_sum / 2
    # (alternating Taylor series: the remainder is below its first omitted term, x_sum^2 / 4)
    if x_sum < 1e-3:
        assert abs((1 - ratio) - x_sum / 2) <= x_sum**2 / 4 + 2 * rel + EPS / 2
    # the product form prod_i F(t_i) = ratio * prod_i (ell t_i), in logs: log_gd_filter's budget,
    # the ratio's, and log(ell t_i) with ell and the product rounded (EPS, plus EPS / 2 of the log)
    log_prod = sum(float(log_gd_filter(lam, s, eta)) for s in ts)
    log_ell_t = [np.log(float(ell) * s) for s in ts]
    log_ref = np.log(ratio) + sum(log_ell_t)
    budget = _sum_budget([_term(lam, s, eta) for s in ts]) + rel + EPS * abs(log_ref)
    assert abs(log_prod - log_ref) <= budget + sum(EPS + EPS * abs(v) for v in log_ell_t)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: ratio_exaggeration_gap(-1.0, 0.5, 1.0, 1.0), id="negative-lam"),
        pytest.param(
            lambda: ratio_exaggeration_gap(4.0, 0.5, 1.0, 1.0, learning_rate=0.3),
            id="descent-eta-lam-above-1",
        ),
        pytest.param(lambda: matched_progress_gap(0.0, 0.5, 1.0, 1.0), id="matched-zero-top"),
        pytest.param(lambda: scalar_exaggeration_gap(1.5, 0.5, 0.5), id="scalar-a-above-1"),
        pytest.param(lambda: scalar_exaggeration_gap(0.5, np.nan, 0.5), id="scalar-c-nan"),
        pytest.param(lambda: scalar_exaggeration_gap(0.5, 0.5, 0.0), id="scalar-r-zero"),
        pytest.param(lambda: scalar_exaggeration_gap(0.5, 0.5, 1.5), id="scalar-r-above-1"),
        pytest.param(lambda: generation_gaps(1.0, 0.5, [1.0, -1.0]), id="negative-time"),
        pytest.param(lambda: filter_order_ratio(1.0, [-1.0]), id="order-negative-time"),
        pytest.param(lambda: filter_order_ratio(-1.0, [1.0]), id="order-negative-lam"),
        pytest.param(lambda: filter_order_bound(-1.0, [1.0]), id="bound-negative-lam"),
        pytest.param(
            lambda: filter_order_ratio(1.0, [1.0], learning_rate=1.5), id="order-eta-lam-above-1"
        ),
    ],
)
def test_invalid_arguments_raise(call):
    with pytest.raises(ValueError):
        call()
