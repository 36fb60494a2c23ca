"""Power-divergence distillation losses, numpy and JAX (CLAIMS.md 4, claim PD-1).

``power_divergence``, ``power_divergence_kd_loss`` and ``power_divergence_kd_gradient`` of
:mod:`kdtheory.losses`: the value at and near ``lam = 0`` (KL) and ``lam = -1`` (reverse KL;
continuity at both is tests/test_losses.py::test_power_divergence_limits), duality,
non-negativity and zero iff equal, agreement with scipy and with a high-precision reference,
the closed-form gradient against ``jax.grad``, the JAX and numpy values, and the errors on bad
input.

Tolerances. Each is a floating-point bound, never a fitted number:

- a sum of ``k`` terms, each computed with a few roundings, errs by at most
  ``c (k + 2) eps sum_j |part_j|`` over the parts the terms add (Higham's ``(k - 1) eps`` for
  the summation plus a few ulps per part; ``c = 8`` to ``32``);
- a log-ratio ``L = log a - log b`` errs by ``delta_L``; a term ``a E(L)``, ``E = expm1(mu L) /
  mu``, then moves by ``a exp(mu L) delta_L`` (its derivative in ``L``). Per sample, with
  ``x = z / T`` and ``y = log p / T`` over the entries ``p > 0`` (a zero teacher entry is never
  rounded: its term is masked), ``delta_L <= 8 eps (1 + m + log k)``,
  ``m = max|x| + max|y| + range(x) + range(y)`` (``range = max - min``; :func:`_delta_log`).
  With the unit roundoff ``u = eps / 2``: the inputs are rounded relative to their own size
  (``fl(z) / fl(T)``: ``3 u |x_k|``, likewise ``y``), the log-softmax ``s - log sum exp s``,
  ``s = x - max x``, adds twice the error of ``s`` (``6 u max|x| + u range(x)``), ``k u`` for
  the sum and ``2 u log k`` for its log, and rounds its output relative to the *output*,
  ``|log q_k| <= range(x) + log k``; ``l = log w - log q`` adds ``u |l| <= u (range(x) +
  range(y) + 2 log k)``. In all ``delta_L <= eps (6 (max|x| + max|y|) + 2 (range(x) +
  range(y)) + k + 3 + 4 log k)``, below the bound for ``k <= 15`` (these tests: ``k <= 6``).
  The outputs are what a bound by ``max|x| + max|y|`` alone misses: ``|log q_k|`` reaches
  about ``2 max|x|`` (``z = (0, 0, 5, -4)``, ``T = 1/2``: ``max|x| = 10``, ``log q_4 = -18``);
- ``jax.grad`` rounds the parts of the loss's derivative, not those of the closed form; JAX
  differentiates ``expm1(x)`` as ``expm1(x) + 1``, with an absolute error ``eps (|expm1(x)| +
  1)`` (:func:`_grad_tolerance`).
"""

from __future__ import annotations

import decimal
import functools
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
from _strategies import simplex, simplex_pair
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax

from kdtheory.losses import (
    KD_ORDERS,
    power_divergence,
    power_divergence_kd_gradient,
    power_divergence_kd_loss,
    proba_sum_tolerance,
    tempered_kd_loss,
)

EPS = np.finfo(float).eps
EPS32 = float(np.finfo(np.float32).eps)
PROPS = settings(max_examples=40, deadline=None)


# ------------------------------------------------------------------------------ strategies
def lambdas():
    """Powers over [-3, 3], with the neighbourhoods of the poles 0 and -1 and of the Taylor
    switch (``|lam L| = 1e-4``) drawn on purpose."""
    near = st.sampled_from([0.0, -1.0]).flatmap(
        lambda c: st.floats(-1e-3, 1e-3).map(lambda e: c + e)
    )
    return st.one_of(st.floats(-3.0, 3.0), near, st.sampled_from([0.0, -1.0, -0.5, 2 / 3]))


#: the one class count of the JAX tests: each shape is compiled once (about 0.3 s each)
JAX_K = (4,)


@st.composite
def kd_case(draw, ks=(3, 5)):
    """Two samples of ``k`` logits in [-8, 8], teacher rows, a power, a temperature, an order."""
    k = draw(st.sampled_from(ks))
    z = np.array(draw(st.lists(st.floats(-8.0, 8.0), min_size=2 * k, max_size=2 * k)))
    p = np.stack([draw(simplex(k)), draw(simplex(k))])
    T = draw(st.floats(0.5, 4.0))
    return z.reshape(2, k), p, draw(lambdas()), T, draw(st.sampled_from(KD_ORDERS))


def assert_within(actual, expected, tol):
    """``|actual - expected| <= tol`` elementwise (``tol`` broadcast), reporting the worst."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    err = np.abs(actual - expected)
    tol = np.broadcast_to(tol, err.shape)
    worst = np.unravel_index(np.argmax(err - tol), err.shape) if err.ndim else ()
    assert np.all(err <= tol), (
        f"at {worst}: |{actual[worst]!r} - {expected[worst]!r}| = {err[worst]:.3e} > "
        f"{tol[worst]:.3e}"
    )


# ------------------------------------------------------------------ float64 reference terms
def _parts(a, b, lam):
    """Terms of ``D_lam(a || b)`` after the duality swap, their growth ``a exp(mu L) / (mu+1)``,
    and the parts they add, in float64 (``a, b`` probability vectors with positive entries)."""
    mu = lam
    if lam < -0.5:
        a, b, mu = b, a, -1.0 - lam
    L = np.log(a) - np.log(b)
    E = L if mu == 0 else np.expm1(mu * L) / mu
    term = (a * E - (a - b)) / (mu + 1)
    growth = a * np.exp(mu * L) / (mu + 1)
    parts = (np.abs(a * E) + a + b) / (mu + 1)
    return term, growth, parts


def _tempered(z, p, T):
    with np.errstate(divide="ignore"):  # log 0 = -inf: w = 0 there
        return np.exp(log_softmax(np.log(p) / T, axis=-1)), np.exp(log_softmax(z / T, axis=-1))


def _delta_log(z, p, T, eps):
    """``8 eps (1 + m + log k)`` per sample (shape ``(n, 1)``), the bound of the module docstring
    on the error of ``log q``, ``log w`` and ``l = log(w / q)``: ``m = max|x| + max|y| +
    range(x) + range(y)``, ``x = z / T``, ``y = log p / T`` over the entries ``p > 0``."""
    x = np.atleast_2d(z) / T
    with np.errstate(divide="ignore"):
        y = np.where(np.atleast_2d(p) > 0, np.log(np.atleast_2d(p)) / T, np.nan)
    m = (
        np.max(np.abs(x), axis=-1) + np.nanmax(np.abs(y), axis=-1)
        + np.ptp(x, axis=-1) + np.nanmax(y, axis=-1) - np.nanmin(y, axis=-1)
    )  # fmt: skip
    return (8 * eps * (1 + m + np.log(x.shape[-1])))[:, None]


def _kd_tolerance(z, p, lam, T, order, eps):
    """Bound on the error of the loss in precision ``eps`` (module docstring), per sample."""
    w, q = _tempered(z, p, T)
    a, b = (w, q) if order == "teacher_student" else (q, w)
    k = z.shape[-1]
    delta_L = _delta_log(z, p, T, eps)[:, 0]
    out = []
    for i in range(z.shape[0]):
        _, growth, parts = _parts(a[i], b[i], lam)
        out.append(
            T**2
            * (2 * delta_L[i] * np.sum(growth + a[i] + b[i]) + 16 * (k + 2) * eps * np.sum(parts))
        )
    return np.array(out)


def _reference(p, q, lam):
    """``D_lam(p || q)`` in decimal arithmetic with 60 digits more than ``lam`` and ``lam + 1``
    have leading zeros (so ``exp(lam L) - 1`` keeps 60; exact inputs: floats are binary
    fractions), in the f-divergence form ``sum [p ((p/q)^lam - 1) / lam - (p - q)] /
    (lam + 1)``: the definition plus ``-sum (p - q) / (lam + 1)``, which is 0 for equal sums
    but which the float vectors here miss by ``~eps``, an error the definition's
    ``1 / (lam (lam + 1))`` would blow up near the poles. ``lam = 0``, ``-1``: its limits."""
    small = min(abs(lam), abs(lam + 1))
    with decimal.localcontext() as ctx:
        ctx.prec = 60 + (int(-np.log10(small)) if 0 < small < 1 else 0)
        P, Q = [decimal.Decimal(float(v)) for v in p], [decimal.Decimal(float(v)) for v in q]
        pairs = list(zip(P, Q, strict=True))
        if lam == 0:
            return float(sum(a * (a / b).ln() - (a - b) for a, b in pairs))
        if lam == -1:
            return float(sum(b * (b / a).ln() - (b - a) for a, b in pairs))
        lam_d = decimal.Decimal(float(lam))
        total = sum(a * (((a / b).ln() * lam_d).exp() - 1) / lam_d - (a - b) for a, b in pairs)
        return float(total / (lam_d + 1))


# ------------------------------------------------------------------------------ identities
@pytest.mark.claim("PD-1")
@settings(max_examples=80, deadline=None)
@given(simplex_pair(), lambdas())
def test_pd1_matches_high_precision_reference_including_the_limits(pq, lam):
    """PD-1: the value, also at and near ``lam = 0`` and ``-1`` (where scipy's direct formula
    loses ``eps / |lam (lam + 1)|``), against the definition in 60-plus-digit decimal arithmetic.

    Our ``L = log p - log q`` errs by ``2 eps (|log p| + |log q|)`` (two logs, one
    subtraction); the reference is exact to ``1e-40`` relative, below any rounding here."""
    p, q = pq
    term, growth, parts = _parts(p, q, lam)
    delta_L = 2 * EPS * (np.abs(np.log(p)) + np.abs(np.log(q)) + 1)
    tol = np.sum(growth * delta_L) + 16 * (p.size + 2) * EPS * np.sum(parts)
    assert power_divergence(p, q, lam) == pytest.approx(_reference(p, q, lam), abs=tol)


@pytest.mark.claim("PD-1")
@PROPS
@given(kd_case())
def test_pd1_kd_loss_identities(case):
    """PD-1 for the distillation loss: ``T^2 x`` half scipy's statistic in the tempered
    probabilities, both orders (``lam``, and ``-1 - lam`` in the other order, which the code
    evaluates after its duality swap) against the decimal reference ``D_lam(a || b)``, evaluated
    without a swap, and at ``lam = 0`` (first order) Hinton's ``tempered_kd_loss``."""
    z, p, lam, T, order = case
    w, q = _tempered(z, p, T)
    ours = power_divergence_kd_loss(z, p, lam, temperature=T, order=order)
    tol = _kd_tolerance(z, p, lam, T, order, EPS)
    a, b = (w, q) if order == "teacher_student" else (q, w)
    assert ours.shape == (2,)
    assert_within(ours, T**2 * power_divergence(a, b, lam), tol)
    if abs(lam) > 1e-2 and abs(lam + 1) > 1e-2:  # scipy's direct formula, away from the poles
        scipy_tol = tol + T**2 * 8 * EPS * np.sum(np.abs(a * ((a / b) ** lam - 1)), axis=-1) / abs(
            lam * (lam + 1)
        )
        theirs = [
            scipy.stats.power_divergence(a[i], b[i], lambda_=lam).statistic / 2 for i in range(2)
        ]
        assert_within(ours, T**2 * np.array(theirs), scipy_tol)
    other = "student_teacher" if order == "teacher_student" else "teacher_student"
    dual = power_divergence_kd_loss(z, p, -1.0 - lam, temperature=T, order=other)
    reference = T**2 * np.array([_reference(a[i], b[i], lam) for i in range(2)])
    assert_within(ours, reference, tol)
    assert_within(dual, reference, tol)
    kd = tempered_kd_loss(z, p, T)
    at0 = power_divergence_kd_loss(z, p, 0.0, temperature=T)
    assert_within(at0, kd, _kd_tolerance(z, p, 0.0, T, "teacher_student", EPS))


@pytest.mark.claim("PD-1")
@PROPS
@given(kd_case())
def test_pd1_kd_loss_nonnegative_and_zero_iff_equal(case):
    """PD-1: ``T^2 D_lam(w || q) >= T^2 sum_k b_k (t_k - 1)^2 min(1, t_k^(mu - 1)) / 2`` (after
    the swap; ``t = a / b``; Taylor with ``f''(s) = s^(mu - 1)``, as in tests/test_losses.py),
    positive unless ``w = q``; and 0 for a student that matches the teacher at every ``T``."""
    z, p, lam, T, order = case
    w, q = _tempered(z, p, T)
    a, b, mu = (w, q, lam) if order == "teacher_student" else (q, w, lam)
    if mu < -0.5:
        a, b, mu = b, a, -1.0 - mu
    t = a / b
    lower = T**2 * np.sum(b * (t - 1.0) ** 2 * np.minimum(1.0, t ** (mu - 1.0)), axis=-1) / 2
    tol = _kd_tolerance(z, p, lam, T, order, EPS)
    loss = power_divergence_kd_loss(z, p, lam, temperature=T, order=order)
    assert np.all(loss >= lower - tol - 8 * (z.shape[1] + 2) * EPS * lower)
    matched = power_divergence_kd_loss(np.log(p) + 3.0, p, lam, temperature=T, order=order)
    assert_within(matched, 0.0, tol)


@pytest.mark.claim("PD-1")
def test_pd1_zero_entries_and_infinities():
    """``0 log 0 = 0``; ``q_k = 0 < p_k`` is ``+inf`` for ``lam >= 0`` (as scipy), finite for
    every ``lam < 0``; ``p_k = 0 < q_k`` is ``+inf`` for ``lam <= -1``; a teacher probability
    of 0 gives a finite loss and gradient when the loss is finite (teacher first, ``lam > -1``)."""
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])
    assert power_divergence(p, q, 2 / 3) == pytest.approx(
        scipy.stats.power_divergence(p, q, lambda_=2 / 3).statistic / 2, rel=1e-14
    )
    assert np.isinf(power_divergence(q, p, 0.0)) and np.isinf(power_divergence(q, p, 2 / 3))
    # lam < 0: sum q ((q/p)^lam - 1) / (lam (lam + 1)), the p = 0 entry's power is 0
    for lam in (-0.3, -1.5, -3.0):
        direct = (2 * 0.25 * ((0.5) ** lam - 1) + 0.5 * (0 - 1)) / (lam * (lam + 1))
        assert power_divergence(q, p, lam) == pytest.approx(direct, rel=1e-14)
    assert np.isinf(power_divergence(p, q, -1.0)) and np.isinf(power_divergence(p, q, -2.0))
    z = np.array([0.3, -1.0, 2.0])
    for lam in (-0.5, 0.0, 2 / 3, 1.0):
        assert np.isfinite(power_divergence_kd_loss(z, p, lam))
        assert np.all(np.isfinite(power_divergence_kd_gradient(z, p, lam)))


# -------------------------------------------------------------------------- the gradient
def _grad_tolerance(z, p, lam, T, order, eps):
    """Bound on the gradient's error in precision ``eps``, per component: the difference of
    two evaluations, each the closed form or ``jax.grad`` of the loss.

    The closed form is ``-T (u_j - q_j sum_k u_k)`` with ``u_k = q_k E(l_k)``,
    ``E = expm1(nu l) / nu``, ``l = log(w / q)``. An error ``delta`` in ``l`` and ``log q``
    (module docstring) moves ``u_k`` by ``delta A_k``, ``A_k = q_k (exp(nu l_k) + |E_k|)``
    (its derivatives); evaluating and summing adds ``8 (k + 2) eps B_k``, ``B_k = q_k (|E_k| +
    1)``. Two evaluations: twice each.

    ``jax.grad`` of the loss ``T^2 sum_k [a_k E_mu(L_k) - (a_k - b_k)] / (mu + 1)`` (after the
    duality swap, ``L = log a - log b``; :func:`_parts`) sees the same input errors (the
    ``delta A`` part) but rounds other parts: ``-T (g_j - q_j sum_k g_k) / T^2``, ``g_k`` the
    cotangent of ``log q_k``, adds ``a_k exp(mu L_k)`` (through ``L``), ``b_k`` when ``q = b``
    (through ``b = exp(log b)``), ``a_k |E_mu(L_k)|`` and ``a_k`` when ``q = a``. JAX
    differentiates ``expm1`` as ``expm1(x) + 1``, so the first is rounded relative to
    ``a_k (|expm1(mu L_k)| + 1)``, not to ``a_k exp(mu L_k)``: for ``mu L_k = -9`` the
    difference is a factor 1e4, and it is what ``B`` (with ``exp(nu l)`` small against 1 there
    as well, but ``q_k`` in place of ``a_k``) misses when ``q = b``, ``a_k = w_k >> q_k``. With
    ``G_k`` these parts over ``mu + 1``, ``jax.grad`` adds ``8 eps T G_j`` (a few roundings of
    each part: ``expm1``, ``+ 1``, the products, the sum of the two paths to ``log q_j``, the
    subtraction) and ``8 (k + 2) eps T q_j sum_k G_k`` (the sum over ``k``), once.
    """
    w, q = _tempered(z, p, T)
    nu = (lam if order == "teacher_student" else -1.0 - lam) + 1.0
    with np.errstate(divide="ignore"):  # w = 0: l = -inf, E = -1 / nu for nu > 0
        ell = np.log(w) - np.log(q)
    E = ell if nu == 0 else np.expm1(nu * ell) / nu
    k = z.shape[-1]
    delta = _delta_log(z, p, T, eps)
    A, B = q * (np.exp(nu * ell) + np.abs(E)), q * (np.abs(E) + 1)
    spread = delta * (A + q * A.sum(-1, keepdims=True))
    rounding = 8 * (k + 2) * eps * (B + q * B.sum(-1, keepdims=True))
    # jax.grad's parts, after the swap of _pd_sum
    swap = lam < -0.5
    mu = -1.0 - lam if swap else lam
    a, b = (w, q) if (order == "teacher_student") != swap else (q, w)
    q_is_a = a is q
    with np.errstate(divide="ignore", invalid="ignore"):  # a = 0: masked, its terms are 0
        L = np.log(a) - np.log(b)
        em1 = np.expm1(mu * L)
        E_mu = L if mu == 0 else em1 / mu
        G = np.where(a > 0, a * (np.abs(em1) + 1), 0.0)
        G = G + (np.where(a > 0, a * np.abs(E_mu), 0.0) + a if q_is_a else b)
    G = G / (mu + 1)
    rounding_grad = 8 * eps * G + 8 * (k + 2) * eps * q * G.sum(-1, keepdims=True)
    return T * (2 * spread + 2 * rounding + rounding_grad)


@PROPS
@given(kd_case(), st.sampled_from([1e-6, 1e-5]))
def test_pd1_gradient_matches_central_differences(case, h):
    """The closed form against central differences in float64: truncation ``h^2 |F'''| / 6``
    is estimated by Richardson, ``|D(2h) - D(h)| = 3 h^2 |F'''| / 6 + ...``, rounding by
    ``4 eps |F| / h``, F the loss along a random direction ``v``."""
    z, p, lam, T, order = case
    rng = np.random.default_rng(0)
    v = rng.standard_normal(z.shape)

    def F(t):
        return power_divergence_kd_loss(z + t * v, p, lam, temperature=T, order=order).sum()

    d1, d2 = (F(h) - F(-h)) / (2 * h), (F(2 * h) - F(-2 * h)) / (4 * h)
    grad = power_divergence_kd_gradient(z, p, lam, temperature=T, order=order)
    scale = np.sum(_kd_tolerance(z, p, lam, T, order, EPS)) + EPS * abs(F(0.0))
    tol = (
        abs(d2 - d1) + 4 * scale / h + np.sum(_grad_tolerance(z, p, lam, T, order, EPS) * np.abs(v))
    )
    assert np.sum(grad * v) == pytest.approx(d1, abs=tol)


# ------------------------------------------------------------------------------------- JAX
@pytest.fixture(scope="module")
def jax():
    return pytest.importorskip("jax")


@functools.cache
def _jitted(jax, x64=False):
    """The jitted loss and its ``jax.grad`` (``lam``, ``T`` traced): compiled once per shape,
    order and precision (``x64`` only keys the cache; the caller sets the precision)."""
    loss = jax.jit(power_divergence_kd_loss, static_argnames=("order",))
    grad = jax.jit(
        jax.grad(lambda z, p, lam, T, order: power_divergence_kd_loss(
            z, p, lam, temperature=T, order=order).sum()),
        static_argnames=("order",),
    )  # fmt: skip
    return loss, grad


@functools.cache
def _jitted_closed_form(jax):
    return jax.jit(power_divergence_kd_gradient, static_argnames=("order",))


@functools.cache
def _jitted_pd(jax):
    return jax.jit(power_divergence)


@settings(max_examples=30, deadline=None)
@given(case=kd_case(JAX_K))
@example(  # |log q| = 18 > max|z / T| + max|log p / T| = 12.8: needs the ranges in the bound
    case=(np.array([[0.0] * 4, [0.0, 0.0, 5.0, -4.0]]), np.full((2, 4), 0.25), -0.5, 0.5,
          "teacher_student")
)  # fmt: skip
def test_pd1_jax_float32_matches_numpy_float64(jax, case):
    """PD-1: the JAX value (float32, jitted, ``lam`` and ``T`` traced) equals the numpy float64
    value within the float32 bound of the module docstring; ``jax.grad`` of it equals the
    closed-form gradient within the float32 gradient bound."""
    jnp = jax.numpy
    z, p, lam, T, order = case
    loss, grad = _jitted(jax)
    ours = np.asarray(loss(jnp.asarray(z), jnp.asarray(p), lam, temperature=T, order=order))
    assert ours.dtype == np.float32
    ref = power_divergence_kd_loss(z, p, lam, temperature=T, order=order)
    assert_within(ours, ref, _kd_tolerance(z, p, lam, T, order, EPS32))
    g = np.asarray(grad(jnp.asarray(z), jnp.asarray(p), lam, T, order=order))
    closed = power_divergence_kd_gradient(z, p, lam, temperature=T, order=order)
    assert_within(g, closed, _grad_tolerance(z, p, lam, T, order, EPS32))


@settings(max_examples=25, deadline=None)
@given(case=kd_case(JAX_K))
def test_pd1_jax_grad_float64_equals_closed_form(jax, case):
    """PD-1: in float64 (``jax.enable_x64``), ``jax.grad`` of the loss equals the closed-form
    gradient ``-(T / (mu + 1)) (w_j r_j - q_j sum_k w_k r_k)``, ``r = (w / q)^mu``, ``mu = lam``
    teacher first and ``-1 - lam`` student first, to float64 rounding."""
    jnp = jax.numpy
    z, p, lam, T, order = case
    enable_x64 = getattr(jax, "enable_x64", None)  # jax >= 0.6; before: jax.experimental
    if enable_x64 is None:
        from jax.experimental import enable_x64
    with enable_x64(True):
        _, grad = _jitted(jax, x64=True)
        closed_jit = _jitted_closed_form(jax)
        g = np.asarray(grad(jnp.asarray(z), jnp.asarray(p), lam, T, order=order))
        closed_jax = np.asarray(
            closed_jit(jnp.asarray(z), jnp.asarray(p), lam, temperature=T, order=order)
        )
    assert g.dtype == np.float64
    closed = power_divergence_kd_gradient(z, p, lam, temperature=T, order=order)
    tol = _grad_tolerance(z, p, lam, T, order, EPS)
    assert_within(g, closed, tol)
    assert_within(closed_jax, closed, tol)
    # the formula of the docstring, where it has no pole
    mu = lam if order == "teacher_student" else -1.0 - lam
    if abs(mu + 1) > 1e-2:
        w, q = _tempered(z, p, T)
        wr = w * (w / q) ** mu
        direct = -(T / (mu + 1)) * (wr - q * wr.sum(axis=-1, keepdims=True))
        assert_within(closed, direct, tol / abs(mu + 1) + tol)


#: the special points of ``lam``: the two KL limits, the duality swap, and ordinary powers
SPECIAL_LAMS = (0.0, -1.0, -0.5, 1.0, 2 / 3, -2.0)


def _central_difference_check(f, x0: float, derivative: float) -> None:
    """``derivative`` against central differences of the float64 function ``f`` at ``x0``.
    The error of a difference of step ``h`` is ``C h^2`` (truncation) plus ``eps |f| / h``
    (rounding); the gap between steps ``h`` and ``h / 2`` bounds the truncation of the finer
    one (it is ``3 C h^2 / 4``), so the tolerance is that gap plus the rounding of the finer
    difference."""
    h = 1e-4 * max(1.0, abs(x0))
    diff = [(f(x0 + s) - f(x0 - s)) / (2 * s) for s in (h, h / 2)]
    rounding = 4 * EPS * max(abs(f(x0 + s)) for s in (-h, h)) / (h / 2)
    assert abs(derivative - diff[1]) <= abs(diff[0] - diff[1]) + rounding + 1e-300, (
        x0,
        derivative,
        diff,
    )


@pytest.mark.parametrize("lam", SPECIAL_LAMS)
@pytest.mark.parametrize("order", KD_ORDERS)
def test_pd1_jax_grad_of_every_argument_at_the_special_points(jax, lam, order):
    """``jax.grad`` of ``power_divergence`` and of ``power_divergence_kd_loss`` in each argument
    they are differentiable in (``lam``, the temperature, the logits, and the probability
    vectors along a direction that keeps their sums) equals central differences, in float64,
    at every special point of ``lam`` (the KL limits 0 and -1 were once blocked by the guard
    of their limit)."""
    jnp = jax.numpy
    z = np.array([[0.7, -0.2, 0.1, -1.1], [0.0, 0.4, -0.6, 0.3]])
    p = np.array([[0.1, 0.4, 0.3, 0.2], [0.25, 0.25, 0.4, 0.1]])
    q = np.array([[0.3, 0.2, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4]])
    T = 1.5
    keep_sum = np.array([1.0, -1.0, 0.5, -0.5])
    enable_x64 = getattr(jax, "enable_x64", None)
    if enable_x64 is None:
        from jax.experimental import enable_x64
    with enable_x64(True):

        def kd(z_, p_, lam_, T_):
            return power_divergence_kd_loss(z_, p_, lam_, temperature=T_, order=order).sum()

        def pd(p_, q_, lam_):
            return power_divergence(p_, q_, lam_).sum()

        args = {
            "kd: lam": (lambda t: kd(jnp.asarray(z), jnp.asarray(p), t, T), lam),
            "kd: temperature": (lambda t: kd(jnp.asarray(z), jnp.asarray(p), lam, t), T),
            "kd: logits": (lambda t: kd(jnp.asarray(z) + t, jnp.asarray(p), lam, T), 0.0),
            "kd: teacher": (
                lambda t: kd(jnp.asarray(z), jnp.asarray(p) + 0.01 * t * keep_sum, lam, T),
                0.0,
            ),
            "pd: lam": (lambda t: pd(jnp.asarray(p), jnp.asarray(q), t), lam),
            "pd: p": (lambda t: pd(jnp.asarray(p) + 0.01 * t * keep_sum, jnp.asarray(q), lam), 0.0),
            "pd: q": (lambda t: pd(jnp.asarray(p), jnp.asarray(q) + 0.01 * t * keep_sum, lam), 0.0),
        }
        for name, (f, x0) in args.items():
            g = float(jax.grad(f)(jnp.float64(x0)))
            assert np.isfinite(g), name
            _central_difference_check(lambda t, f=f: float(f(jnp.float64(t))), x0, g)


@settings(max_examples=30, deadline=None)
@given(pq=simplex_pair(JAX_K), lam=lambdas())
def test_pd1_jax_power_divergence_matches_numpy(jax, pq, lam):
    """``power_divergence`` on JAX arrays (float32, ``lam`` traced) against float64, with the
    float32 input rounding ``delta_L = 2 eps32 (1 + |log p| + |log q|)``."""
    p, q = pq
    jnp = jax.numpy
    ours = float(_jitted_pd(jax)(jnp.asarray(p), jnp.asarray(q), lam))
    _, growth, parts = _parts(p, q, lam)
    delta_L = 2 * EPS32 * (1 + np.abs(np.log(p)) + np.abs(np.log(q)))
    tol = 2 * np.sum(growth * delta_L) + 16 * (p.size + 2) * EPS32 * np.sum(parts)
    assert ours == pytest.approx(power_divergence(p, q, lam), abs=tol)


def test_pd1_jax_zero_entries(jax):
    """Zero entries under JAX as under numpy (the terms, their parts and log-ratios are at
    most 2 and ``log 2`` here, so ``64 (k + 2) eps32`` bounds the float32 error), ``+inf`` for
    ``q_k = 0 < p_k``, and a finite ``jax.grad`` with a teacher probability of 0."""
    jnp = jax.numpy
    p, q = np.array([0.5, 0.5, 0.0, 0.0]), np.full(4, 0.25)
    pd = _jitted_pd(jax)
    for lam in (-2.0, -0.5, 0.0, 2 / 3):
        ref = power_divergence(p, q, lam)
        assert float(pd(jnp.asarray(p), jnp.asarray(q), lam)) == pytest.approx(
            ref, abs=64 * 6 * EPS32 * max(1.0, ref)
        )
    assert np.isinf(float(pd(jnp.asarray(q), jnp.asarray(p), 2 / 3)))
    z, P2 = np.array([[0.0, 1.0, -1.0, 0.5]] * 2), np.stack([p, p])
    _, grad = _jitted(jax)
    for order in KD_ORDERS:
        g = np.asarray(grad(jnp.asarray(z), jnp.asarray(P2), -0.5, 1.0, order=order))
        assert np.all(np.isfinite(g))
        closed = power_divergence_kd_gradient(z, P2, -0.5, order=order)
        assert_within(g, closed, _grad_tolerance(z, P2, -0.5, 1.0, order, EPS32))


# ------------------------------------------------------------------------------- bad input
Z, P = np.zeros((2, 3)), np.full((2, 3), 1 / 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"teacher_proba": np.array([[0.5, 0.6, -0.1], [1 / 3, 1 / 3, 1 / 3]])},
            r"^teacher_proba must hold non-negative.*\(0, 2\)",
        ),
        (
            {"teacher_proba": np.array([[0.5, 0.5, 0.1], [1 / 3, 1 / 3, 1 / 3]])},
            r"^teacher_proba must sum to 1.*slice \(0,\) sums to 1.1",
        ),
        ({"teacher_proba": np.log(P)}, "^teacher_proba must hold non-negative"),
        ({"lam": np.nan}, "^lam must be a finite number"),
        ({"lam": np.inf}, "^lam must be a finite number"),
        ({"lam": np.array([0.5, 1.0])}, "^lam must be a scalar"),
        ({"temperature": 0.0}, r"^temperature must be a finite number > 0"),
        ({"temperature": -1.0}, r"^temperature must be a finite number > 0"),
        ({"temperature": np.inf}, r"^temperature must be a finite number > 0"),
        (
            {"student_logits": np.zeros((2, 4))},
            "^teacher_proba and student_logits must have the same shape",
        ),
        (
            {"order": "student-teacher"},
            r"^order must be one of \('teacher_student', 'student_teacher'\)",
        ),
    ],
)
@pytest.mark.parametrize("fn", [power_divergence_kd_loss, power_divergence_kd_gradient])
def test_pd1_kd_bad_input_names_the_argument(fn, kwargs, message):
    args = {"student_logits": Z, "teacher_proba": P, "lam": 0.5, "temperature": 1.0,
            "order": "teacher_student", **kwargs}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        fn(args.pop("student_logits"), args.pop("teacher_proba"), args.pop("lam"), **args)


def test_pd1_sum_tolerance_accepts_float32_softmax_and_rejects_mistakes():
    """A float32 softmax of 1000 classes passes; a defect just above the stated tolerance (also
    in ``tempered_kd_loss``), unnormalized scores, and unequal totals (counts) fail."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((64, 1000)).astype(np.float32)
    p32 = np.exp(z - z.max(axis=1, keepdims=True))
    p32 /= p32.sum(axis=1, keepdims=True)
    power_divergence_kd_loss(np.zeros((64, 1000)), p32, 2 / 3)
    tol = proba_sum_tolerance(3)
    assert tol == 2 * 11 * EPS32
    ok = np.array([0.5, 0.25, 0.25 + 0.5 * tol])
    power_divergence_kd_loss(np.zeros(3), ok, 0.5)
    with pytest.raises(ValueError, match="must sum to 1"):
        power_divergence_kd_loss(np.zeros(3), np.array([0.5, 0.25, 0.25 + 2 * tol]), 0.5)
    # Hinton's loss, power_divergence_kd_loss at lam = 0, checks the teacher the same way
    tempered_kd_loss(np.zeros(3), ok, 2.0)
    with pytest.raises(ValueError, match="^teacher_proba must sum to 1"):
        tempered_kd_loss(np.zeros(3), np.array([0.5, 0.25, 0.25 + 2 * tol]), 2.0)
    with pytest.raises(ValueError, match="^p and q must have equal sums along axis -1"):
        power_divergence(np.array([1.0, 2.0]), np.array([1.0, 1.0]), 0.5)
    power_divergence(np.array([3.0, 1.0]), np.array([2.0, 2.0]), 0.5)  # counts, same total


def test_pd1_jax_checks_values_when_concrete_and_shapes_under_jit(jax):
    jnp = jax.numpy
    bad = jnp.asarray([[0.5, 0.6, -0.1], [1 / 3, 1 / 3, 1 / 3]])
    with pytest.raises(ValueError, match="^teacher_proba must hold non-negative"):
        power_divergence_kd_loss(jnp.zeros((2, 3)), bad, 0.5)
    with pytest.raises(ValueError, match="^lam must be a finite number"):
        power_divergence_kd_loss(jnp.zeros((2, 3)), jnp.asarray(P), jnp.asarray(np.nan))
    loss = jax.jit(power_divergence_kd_loss, static_argnames=("order",))
    with pytest.raises(ValueError, match="same shape"):
        loss(jnp.zeros((2, 4)), jnp.asarray(P), 0.5)
    with pytest.raises(ValueError, match="^order must be one of"):
        loss(jnp.zeros((2, 3)), jnp.asarray(P), 0.5, order="reverse")
    # values are not readable under jit: the call runs (and returns a number)
    assert np.all(np.isfinite(np.asarray(loss(jnp.zeros((2, 3)), jnp.asarray(P) * 1.5, 0.5))))


def test_losses_import_without_jax():
    """``kdtheory.losses`` never imports JAX: with JAX's import blocked it imports and computes."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('jax', 'jaxlib'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np\n"
        "from kdtheory.losses import power_divergence_kd_loss as f\n"
        "print(float(f(np.zeros(3), np.full(3, 1 / 3), 2 / 3)))\n"
        "assert 'jax' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == 0.0
