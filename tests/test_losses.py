"""Tests of kdtheory.losses: divergences (PD-1) and the KD orthogonal correction (CLAIMS.md 3.1).

Tolerances. Two sources of error appear below, and each tolerance says which one it covers:

- floating point: a sum of ``k`` terms, each computed with a few roundings, errs by at most
  ``c k eps sum_j |term_j|`` (Higham's bound for recursive summation, ``(k - 1) eps``, plus a few
  ulps per term; we use ``c = 8`` to ``16``); ``log``, ``exp``, ``expm1`` and ``log_softmax`` are
  accurate to a few ulps;
- truncation of a central difference: ``(F(h) - F(-h)) / (2h) - F'(0) = h^2 F'''(xi) / 6`` for
  some ``|xi| <= h``, bounded with an explicit bound on ``|F'''|`` over ``[-h, h]`` derived in
  :func:`_third_derivative_bound`; its rounding adds ``delta_F / h`` for an evaluation error
  ``delta_F`` of ``F``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from _strategies import simplex_pair
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax, softmax

from kdtheory.losses import (
    corrected_kd_loss,
    cross_entropy,
    kd_orthogonal_correction,
    kl_divergence,
    orthogonal_squared_loss,
    power_divergence,
    squared_loss,
    tempered_kd_loss,
)
from kdtheory.semiparametric import clip_proba, distillation_target, orthogonal_gamma

EPS = np.finfo(float).eps
PROPS = settings(max_examples=150, deadline=None)


# ------------------------------------------------------------------------------ strategies
@st.composite
def kd_instance(draw):
    """Student logits, teacher probabilities with ``p_c >= 0.0101 > eps = 1e-2`` for the label
    ``c`` (the clamp inactive, but only just, at the low end), the label, a temperature."""
    k = draw(st.integers(2, 6))
    c = draw(st.integers(0, k - 1))
    p_c = draw(st.floats(0.0101, 0.99))
    raw = np.array(draw(st.lists(st.floats(1e-3, 1.0), min_size=k - 1, max_size=k - 1)))
    p = np.insert(raw / raw.sum() * (1.0 - p_c), c, p_c)
    z = np.array(draw(st.lists(st.floats(-20.0, 20.0), min_size=k, max_size=k)))
    T = draw(st.floats(0.25, 8.0))
    return z, p, c, T


def _lambdas():
    """Powers away from the removable singularities 0 and -1 (scipy's direct formula loses
    ``eps / |lam (lam + 1)|`` there, see test_power_divergence_matches_scipy)."""
    return st.floats(-3.0, 3.0).filter(lambda v: abs(v) > 1e-2 and abs(v + 1.0) > 1e-2)


# ---------------------------------------------------------------------------- divergences
@PROPS
@given(simplex_pair())
def test_kl_matches_scipy_entropy_and_is_nonnegative(pq):
    p, q = pq
    kl = kl_divergence(p, q)
    # scipy renormalizes p and q (relative change <= k eps), moving each log ratio by <= 2 k eps
    tol = 4 * (p.size + 2) * EPS * (1.0 + np.sum(p * np.abs(np.log(p / q))))
    assert kl == pytest.approx(scipy.stats.entropy(p, q), abs=tol)
    # Gibbs: each term p log(p/q) >= p - q, so KL >= sum(p) - sum(q), which is 0 up to the
    # normalisations' rounding (each sum within k eps of 1) and the terms' rounding (tol)
    assert kl >= np.sum(p) - np.sum(q) - tol
    assert kl_divergence(p, p) == 0.0


def _pd_scale(p, q, lam):
    """``sum_k [p_k max(1, (p_k/q_k)^lam) + q_k] / |lam (lam + 1)|``: the size of the terms that
    scipy's ``p ((p/q)^lam - 1)`` and our ``p expm1(lam log(p/q)) / lam - (p - q)`` add up."""
    return np.sum(p * np.maximum(1.0, (p / q) ** lam) + q) / abs(lam * (lam + 1.0))


@pytest.mark.claim("PD-1")
@PROPS
@given(simplex_pair(), _lambdas())
def test_power_divergence_matches_scipy(pq, lam):
    """PD-1: ``scipy.stats.power_divergence(p, q, lambda_=lam).statistic / 2 == D_lam(p || q)``,
    and the duality ``D_lam(p || q) = D_{-1-lam}(q || p)`` against scipy's other order."""
    p, q = pq
    ours = power_divergence(p, q, lam)
    # both are sums of k + 1 terms with a few roundings each; scipy's x^lam - 1 and the
    # division by lam (lam + 1) make the error relative to _pd_scale, not to the result
    tol = 8 * (p.size + 2) * EPS * (_pd_scale(p, q, lam) + _pd_scale(q, p, -1.0 - lam))
    theirs = scipy.stats.power_divergence(p, q, lambda_=lam).statistic / 2
    dual = scipy.stats.power_divergence(q, p, lambda_=-1.0 - lam).statistic / 2
    assert ours == pytest.approx(theirs, abs=tol)
    assert ours == pytest.approx(dual, abs=tol)


@pytest.mark.claim("PD-1")
@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 50), min_size=2, max_size=6),
    st.lists(st.floats(0.1, 1.0), min_size=6, max_size=6),
    st.sampled_from([1.0, 2.0 / 3.0, 0.0, -0.5, -1.0, -2.0, "cressie-read", "pearson"]),
)
def test_power_divergence_on_counts_matches_scipy(counts, weights, lam):
    """On observed counts against expected counts with the same total (scipy's use)."""
    obs = np.array(counts, dtype=float)
    w = np.array(weights[: obs.size])
    exp = obs.sum() * w / w.sum()
    res = scipy.stats.power_divergence(obs, exp, lambda_=lam)
    lam_value = {"cressie-read": 2.0 / 3.0, "pearson": 1.0}.get(lam, lam)
    ours = power_divergence(obs, exp, lam_value)
    # as above; at lam = 0 and -1 scipy uses the log forms, with terms (obs + exp) |log(obs/exp)|
    scale = np.sum((obs + exp) * (1.0 + np.abs(np.log(obs / exp))))
    if lam_value not in (0.0, -1.0):
        scale += _pd_scale(obs, exp, lam_value) + _pd_scale(exp, obs, -1.0 - lam_value)
    assert ours == pytest.approx(res.statistic / 2, abs=16 * (obs.size + 2) * EPS * scale)


@pytest.mark.claim("PD-1")
@PROPS
@given(simplex_pair(), st.sampled_from([s * e for e in (1e-5, 1e-7, 1e-8, 1e-12) for s in (1, -1)]))
def test_power_divergence_limits(pq, lam):
    """PD-1: ``D_0 = KL(p || q)``, ``D_{-1} = KL(q || p)`` and continuity at both.

    ``D_lam = KL + lam (M2 / 2 - KL) + O(lam^2)`` with ``M2 = sum p log(p/q)^2`` (expand
    ``expm1(lam L) / lam`` and ``1 / (1 + lam)``); with ``|lam L| <= 1e-5 * 14`` here (entries
    ``>= 1e-4 / 6``), the remainder is far below the first-order term, so twice the first-order
    bound covers it. Near ``-1`` the same holds for ``D_{-1-mu}(p||q) = D_mu(q||p)``. The steps
    put ``|lam L|`` on both sides of the Taylor switch ``1e-4`` of ``kdtheory.losses`` (1e-5)
    and deep inside it (down to 1e-12).
    """
    p, q = pq
    kl_pq, kl_qp = kl_divergence(p, q), kl_divergence(q, p)
    L = np.log(p / q)
    rounding = 16 * (p.size + 2) * EPS * (1.0 + np.sum((p + q) * np.abs(L)))
    assert power_divergence(p, q, 0.0) == pytest.approx(kl_pq, abs=rounding)
    assert power_divergence(p, q, -1.0) == pytest.approx(kl_qp, abs=rounding)
    first_pq = abs(lam) * (np.sum(p * L**2) / 2 + kl_pq)
    first_qp = abs(lam) * (np.sum(q * L**2) / 2 + kl_qp)
    assert power_divergence(p, q, lam) == pytest.approx(kl_pq, abs=2 * first_pq + rounding)
    assert power_divergence(p, q, -1.0 - lam) == pytest.approx(kl_qp, abs=2 * first_qp + rounding)


def _our_pd_rounding(p, q, lam):
    """Rounding bound of :func:`power_divergence`: after the duality swap ``lam >= -1/2``; each
    term ``p expm1(lam L) / lam - (p - q)`` is accurate to a few ulps of its parts (``expm1`` is
    accurate for small arguments), and the sum is divided by ``lam + 1 >= 1/2``."""
    if lam < -0.5:
        p, q, lam = q, p, -1.0 - lam
    L = np.log(p / q)
    part = p * np.abs(L) if lam == 0.0 else np.abs(p * np.expm1(lam * L) / lam)
    return 16 * (p.size + 2) * EPS * np.sum(part + p + q) / (lam + 1.0)


@pytest.mark.claim("PD-1")
@PROPS
@given(simplex_pair(), st.floats(-3.0, 3.0))
def test_power_divergence_nonnegative_with_quadratic_lower_bound(pq, lam):
    """PD-1: ``D_lam(p || p) = 0`` and ``D_lam(p || q) >= sum_k q_k (t_k - 1)^2 m_k / 2`` (``> 0``
    for ``p != q``), ``t = p / q``: ``f''(s) = s^(lam - 1)`` is monotone in ``s``, so between 1
    and ``t`` it is at least ``m = min(1, t^(lam - 1))`` (Taylor, ``f(1) = f'(1) = 0``)."""
    p, q = pq
    t = p / q
    lower = np.sum(q * (t - 1.0) ** 2 * np.minimum(1.0, t ** (lam - 1.0))) / 2
    assert power_divergence(p, p, lam) == 0.0
    # the lower bound itself is a sum of k terms with a few roundings each
    tol = _our_pd_rounding(p, q, lam) + 8 * (p.size + 2) * EPS * lower
    assert power_divergence(p, q, lam) >= lower - tol


@pytest.mark.claim("PD-1")
def test_power_divergence_zero_entries_and_bad_lambda():
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])
    # lam = 1 is half Pearson's chi-square sum (p - q)^2 / q = (0.25 + 0.25 + 0.5) / 2
    assert power_divergence(p, q, 1.0) == pytest.approx(0.5, rel=1e-15)
    assert power_divergence(p, q, 1.0) == pytest.approx(
        scipy.stats.power_divergence(p, q, lambda_=1.0).statistic / 2, rel=1e-15
    )
    # q > 0 = p: infinite for lam >= 0, finite for -1 < lam < 0
    assert np.isinf(power_divergence(q, p, 1.0))
    assert np.isinf(power_divergence(q, p, 0.0))
    # lam = -1/2 is self-dual, 4 (1 - sum sqrt(p q)) (4 times the squared Hellinger distance)
    hellinger = 4.0 * (1.0 - np.sum(np.sqrt(p * q)))
    assert power_divergence(q, p, -0.5) == pytest.approx(hellinger, rel=1e-14)
    assert power_divergence(p, q, -0.5) == pytest.approx(hellinger, rel=1e-14)
    with pytest.raises(ValueError, match="lam"):
        power_divergence(p, q, np.nan)


# ------------------------------------------------------------------------------- KD losses
@PROPS
@given(kd_instance())
def test_tempered_kd_loss_basic_identities(inst):
    z, p, _, T = inst
    log_q = log_softmax(z)
    scale = 8 * (p.size + 2) * EPS * (1.0 + np.sum(p * (np.abs(np.log(p)) + np.abs(log_q))))
    # T = 1: KL(p || softmax(z))
    assert tempered_kd_loss(z, p, 1.0) == pytest.approx(kl_divergence(p, softmax(z)), abs=scale)
    # a student whose logits are log p_hat + const matches the teacher at every temperature
    assert tempered_kd_loss(np.log(p) + 3.0, p, T) == pytest.approx(0.0, abs=T**2 * scale)
    assert tempered_kd_loss(z, p, T) >= -(T**2) * scale


def test_kd_correction_hand_computed():
    """k = 2, T = 1, p = (1/4, 3/4), q = p, y = e_0: ``r w = y - p``, ``sum r w = 0``, so the
    correction is ``-sum (y - p) log q = -(3/4) log(1/4) + (3/4) log(3/4) = (3/4) log 3``."""
    z, p, y = np.array([0.0, np.log(3.0)]), np.array([0.25, 0.75]), np.array([1.0, 0.0])
    assert kd_orthogonal_correction(z, p, y, 1.0) == pytest.approx(0.75 * np.log(3.0), rel=1e-14)
    assert kd_orthogonal_correction(z, p, 0, 1.0) == kd_orthogonal_correction(z, p, y, 1.0)


@PROPS
@given(kd_instance())
def test_corrected_kd_at_temperature_one_is_cross_entropy(inst):
    """CLAIMS.md 3.1: at ``T = 1`` and ``p_hat_y >= eps``, KL + correction
    ``= -sum_j y_j log q_j - H(p_hat)``: hard-label training up to a constant."""
    z, p, c, _ = inst
    y = np.eye(p.size)[c]
    log_q = log_softmax(z)
    entropy = -np.sum(p * np.log(p))
    # the terms are p|log p|, (p + y)|log q| and r w log q with sum |r w| = sum |y - p| <= 2
    tol = 16 * (p.size + 2) * EPS * (1.0 + entropy + 3.0 * np.max(np.abs(log_q)))
    expected = cross_entropy(z, y) - entropy
    assert corrected_kd_loss(z, p, y, 1.0) == pytest.approx(expected, abs=tol)
    assert corrected_kd_loss(z, p, c, 1.0) == pytest.approx(expected, abs=tol)


@settings(max_examples=60, deadline=None)
@given(kd_instance(), st.floats(1e-4, 9e-3))
def test_kd_correction_clamp(inst, p_label):
    """Where ``p_hat_y < eps`` the public code uses ``r_y = 1/eps - 1`` instead of ``1/p_y - 1``;
    at ``T = 1`` (``w = p``) that adds ``(p_y / eps - 1)(sum_j p_j log q_j - log q_y)`` to the
    cross-entropy identity."""
    z, p, c, _ = inst
    others = np.delete(p, c)
    p = np.insert(others * (1.0 - p_label) / others.sum(), c, p_label)
    y = np.eye(p.size)[c]
    log_q = log_softmax(z)
    shift = (p_label / 1e-2 - 1.0) * (np.sum(p * log_q) - log_q[c])
    expected = cross_entropy(z, y) + np.sum(p * np.log(p)) + shift
    tol = 16 * (p.size + 2) * EPS * (1.0 - np.sum(p * np.log(p)) + 3.0 * np.max(np.abs(log_q)))
    assert corrected_kd_loss(z, p, y, 1.0) == pytest.approx(expected, abs=tol)


def _third_derivative_bound(p_label: float, a: float, h: float) -> float:
    """Bound on ``|sigma'''(t)|`` over ``|t| <= h`` (with ``h <= p_label / 4``, ``h <= 1/10``).

    Along ``p(t) = p_hat + t (y - p_hat)`` the non-label entries are ``(1 - t) p_j`` and the label
    entry is ``(1 - t) p_c + t``, so ``w(t) = softmax(a log p(t))`` has ``w_j = (1 - sigma) p_j^a /
    S`` (``j != c``, ``S = sum_{j != c} p_j^a``) and ``w_c = sigma = Lambda(psi - log S)``, with the
    logistic ``Lambda`` and ``psi = a log s``, ``s(t) = p_c + t / (1 - t)``. Hence
    ``F(t) = -sum_j w_j log q_j = -(sigma l_c + (1 - sigma) l_bar)`` and
    ``F''' = -(l_c - l_bar) sigma'''``. By the chain rule
    ``sigma''' = Lambda''' psi'^3 + 3 Lambda'' psi' psi'' + Lambda' psi'''`` with
    ``|Lambda'| <= 1/4``, ``|Lambda''| <= sqrt(3)/18``, ``|Lambda'''| <= 1/8``;
    ``psi' = a s'/s``, ``psi'' = a (s''/s - (s'/s)^2)``,
    ``psi''' = a (s'''/s - 3 s' s''/s^2 + 2 (s'/s)^3)``, and on ``|t| <= h``:
    ``s >= p_c - h / (1 - h)``, ``s^(m) = m! / (1 - t)^(m + 1) <= m! / (1 - h)^(m + 1)``.
    """
    s_min = p_label - h / (1.0 - h)
    u1, u2, u3 = (np.prod(range(1, m + 1)) / (1.0 - h) ** (m + 1) / s_min for m in (1, 2, 3))
    d1 = a * u1
    d2 = a * (u2 + u1**2)
    d3 = a * (u3 + 3 * u1 * u2 + 2 * u1**3)
    return d1**3 / 8 + 3 * (np.sqrt(3) / 18) * d1 * d2 + d3 / 4


@PROPS
@given(kd_instance())
def test_kd_correction_is_directional_derivative(inst):
    """CLAIMS.md 3.1: the correction equals ``d/dt F(p_hat + t (y - p_hat))`` at 0 with
    ``F(p) = -sum_j softmax(a log p)_j log q_j`` (the public code's ``test_kdloss.py``), here by
    central differences with step ``h = 1e-3 p_c``."""
    z, p, c, T = inst
    y = np.eye(p.size)[c]
    a = 1.0 / T
    log_q = log_softmax(z / T)

    def F(t):
        return -np.sum(softmax(a * np.log(p + t * (y - p))) * log_q)

    h = 1e-3 * p[c]
    central = (F(h) - F(-h)) / (2 * h)
    w = softmax(a * np.log(p))
    l_bar = np.sum(np.delete(w, c) * np.delete(log_q, c)) / np.sum(np.delete(w, c))
    truncation = h**2 / 6 * abs(log_q[c] - l_bar) * _third_derivative_bound(p[c], a, h)
    # F sums k terms w_j log q_j (a few ulps each, plus the perturbed p's rounding moving log p
    # by ~eps): delta_F <= 8 k eps (1 + sum |log q|); the closed form sums r_j w_j log q_j with
    # |r_j w_j| <= w_j / p_j <= 1 / p_c
    delta_F = 8 * (p.size + 2) * EPS * (1.0 + np.sum(np.abs(log_q)))
    closed_rounding = 16 * (p.size + 2) * EPS * a * np.sum(np.abs(log_q)) * (1.0 + 1.0 / p[c])
    tol = truncation + delta_F / h + closed_rounding
    assert kd_orthogonal_correction(z, p, y, T) == pytest.approx(central, abs=tol)


def test_kd_loss_bad_input():
    z, p, y = np.zeros(3), np.full(3, 1 / 3), np.eye(3)[0]
    with pytest.raises(ValueError, match="temperature"):
        tempered_kd_loss(z, p, 0.0)
    with pytest.raises(ValueError, match="temperature"):
        corrected_kd_loss(z, p, y, -1.0)
    with pytest.raises(ValueError, match="same shape"):
        tempered_kd_loss(np.zeros(4), p, 1.0)
    with pytest.raises(ValueError, match="y_onehot"):
        kd_orthogonal_correction(z, p, np.eye(4)[0], 1.0)


def test_kd_losses_are_per_sample():
    rng = np.random.default_rng(0)
    z, p = rng.standard_normal((7, 4)), rng.dirichlet(np.ones(4), size=7)
    labels = np.argmax(p, axis=1)
    out = corrected_kd_loss(z, p, labels, 2.0)
    assert out.shape == (7,)
    single = [corrected_kd_loss(z[i], p[i], labels[i], 2.0) for i in range(7)]
    np.testing.assert_allclose(out, single, rtol=0, atol=64 * EPS * np.max(np.abs(out)))


# ------------------------------------------------------------------ binary squared losses
@st.composite
def binary_instance(draw):
    return (
        draw(st.floats(-10.0, 10.0)),
        draw(st.floats(1e-4, 1.0)),
        draw(st.sampled_from([0.0, 1.0])),
        draw(st.sampled_from(["p", "logp"])),
    )


@PROPS
@given(binary_instance(), st.floats(-10.0, 10.0))
def test_orthogonal_squared_loss_is_target_form_plus_constant(inst, z2):
    """CLAIMS.md 3.1: ``(z - g(p))^2 + d_p (z - g(p))^2 (y - p) = (z - target)^2 - (g'(p)
    (y - p))^2`` with the orthogonal target: the difference does not depend on ``z``."""
    z, p, y, scale = inst
    target = distillation_target(y, p, scale=scale, gamma=orthogonal_gamma(p, scale))
    const = -((orthogonal_gamma(p, scale) * (y - clip_proba(p, scale))) ** 2)
    for zz in (z, z2):
        lhs = orthogonal_squared_loss(zz, p, y, scale=scale)
        # squares of numbers up to |z| + |target| + 500: relative rounding of a few ulps
        tol = 16 * EPS * ((abs(zz) + abs(target)) ** 2 + abs(const))
        assert lhs == pytest.approx((zz - target) ** 2 + const, abs=tol)


@PROPS
@given(binary_instance())
def test_orthogonal_squared_loss_is_loss_plus_directional_derivative(inst):
    """``l(z, p) + d_p l(z, p) (y - p)``, the derivative by central differences.

    p scale: ``l`` is quadratic in ``p``, so the difference is exact up to rounding. Log scale
    (``p`` above the 1/500 clip): ``|d^3/dp^3 (z - log s)^2| = |6 + 4 (z - log s)| / s^3``, so the
    truncation is at most ``h^2 (6 + 4 max |z - log s|) / (6 s_min^3)`` for ``s`` in
    ``[p - h, p + h]`` (step ``h`` in ``p`` along ``sign(y - p)``, times ``|y - p|``).
    """
    z, p, y, scale = inst
    p = min(max(p, 0.01), 0.99)  # p +- h inside the clips [1/500, 1]
    v = y - p
    h = 1e-4 * p
    central = (squared_loss(z, p + h, scale=scale) - squared_loss(z, p - h, scale=scale)) / (2 * h)
    expected = squared_loss(z, p, scale=scale) + central * v
    s_min = p - h
    big = abs(z) + abs(np.log(s_min)) + 1.0
    truncation = 0.0 if scale == "p" else h**2 * (6 + 4 * big) / (6 * s_min**3) * abs(v)
    # squared_loss evaluates (z - g)^2 with relative error ~4 eps: delta = 4 eps big^2
    tol = truncation + 8 * EPS * big**2 * (1.0 + abs(v) / h)
    assert orthogonal_squared_loss(z, p, y, scale=scale) == pytest.approx(expected, abs=tol)
