"""What the theorems predict: minimax exponents, sequence-model risks, the SM floor.

The sequence model of CLAIMS.md 1.3 (ours): teacher and student are diagonal in one orthonormal
basis with teacher eigenvalues ``mu_k`` and student eigenvalues ``nu_k``. In CLAIMS.md's ridge
convention (``lam = a / n``) the teacher multiplies coefficient ``k`` by
``s_k = mu_k / (mu_k + lam_T)`` and the student prox by ``a_k = nu_k / (nu_k + lam_S)``; each
estimator is a filter ``h_k`` applied to ``theta_k + noise_k`` with ``Var(noise_k) = sigma^2 / n``:

- teacher: ``h_k = s_k``; kernel ridge on the labels: ``h_k = a_k``;
- SM: ``h_k = a_k s_k``; RaT fixed point: ``h_k = nu_k s_k / (lam_S + nu_k s_k)``;

and the risk is ``sum_k (1 - h_k)^2 theta_k^2 + (sigma^2 / n) sum_k h_k^2``. On a circulant design
(periodic kernel, equispaced points, ``mu_k`` the eigenvalues of ``K / n``, ``theta_k`` the
discrete Fourier coefficients) these formulas are exact for the in-sample risk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.special
from numpy.typing import ArrayLike, NDArray

from kdtheory._filters import (
    _eigenvalues,
    _log1mexp,
    _log_q,
    _times,
    log_distill_filter,
    log_gd_filter,
    matched_progress_time,
)
from kdtheory.linalg import _ridges
from kdtheory.shift import CovariateShift

__all__ = [
    "minimax_exponent",
    "sequence_filter",
    "sequence_model_risk",
    "sm_floor",
    "unseen_energy",
    "rat_ridge_schedule",
    "picard_rate_sequence",
    "rate_tight_coefficients",
    "population_teacher_bias",
    "ratio_exaggeration_gap",
    "matched_progress_gap",
    "scalar_exaggeration_gap",
    "bottom_top_log_ratios",
    "generation_gaps",
    "filter_order_ratio",
    "filter_order_bound",
]

METHODS = ("teacher", "sm", "rat", "krr")


def minimax_exponent(decay: float) -> float:
    """Exponent of the minimax rate ``n^{-2a/(2a+1)}`` for eigen-decay ``mu_k ~ k^{-2a}``.

    For the Sobolev-1 kernel (``a = 1``) this is ``-2/3`` (claim RAT-2).
    """
    a = float(decay)
    if not a > 0.5:
        raise ValueError(f"decay must exceed 1/2 (trace-class kernel), got {decay!r}.")
    return -2.0 * a / (2.0 * a + 1.0)


def _ridge_path(lam: ArrayLike, name: str) -> NDArray:
    return _ridges(lam, name)  # the one ridge check every solver path shares


def sequence_filter(
    method: str,
    mu: ArrayLike,
    *,
    teacher_ridge: float,
    student_ridge: ArrayLike,
    student_mu: ArrayLike | None = None,
) -> NDArray:
    """Filter ``h_k`` of ``method`` in the sequence model, shape ``(K, L)`` for ``L`` ridges.

    Parameters
    ----------
    method : {"teacher", "sm", "rat", "krr"}
    mu : array of shape (K,)
        Teacher eigenvalues ``mu_k >= 0`` (0 where the teacher is blind).
    teacher_ridge : float
        ``lam_T >= 0``.
    student_ridge : float or array of shape (L,)
        ``lam_S >= 0``.
    student_mu : array of shape (K,), optional
        Student eigenvalues ``nu_k``; default ``mu``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    mu = np.asarray(mu, dtype=float)[:, None]
    nu = mu if student_mu is None else np.asarray(student_mu, dtype=float)[:, None]
    lam_T = float(_ridge_path(teacher_ridge, "teacher_ridge")[0])
    lam_S = _ridge_path(student_ridge, "student_ridge")[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(mu > 0, mu / (mu + lam_T), 0.0)
        a = np.where(nu > 0, nu / (nu + lam_S), 0.0)
        if method == "teacher":
            return np.broadcast_to(s, a.shape).copy()
        if method == "krr":
            return a
        if method == "sm":
            return a * s
        eff = nu * s
        return np.where(eff > 0, eff / (lam_S + eff), 0.0)


def sequence_model_risk(
    method: str,
    mu: ArrayLike,
    theta2: ArrayLike,
    *,
    n: int,
    noise_sd: float,
    teacher_ridge: float,
    student_ridge: ArrayLike,
    student_mu: ArrayLike | None = None,
) -> dict[str, NDArray]:
    """Bias, variance and risk of ``method`` in the sequence model (CLAIMS.md 1.3; RAT-1, RAT-2).

    ``risk = sum_k (1 - h_k)^2 theta_k^2 + (sigma^2 / n) sum_k h_k^2`` for every student ridge.
    ``theta2`` holds the squared coefficients ``theta_k^2`` of ``f*``.
    """
    h = sequence_filter(
        method, mu, teacher_ridge=teacher_ridge, student_ridge=student_ridge, student_mu=student_mu
    )
    theta2 = np.asarray(theta2, dtype=float)
    bias = np.sum((1.0 - h) ** 2 * theta2[:, None], axis=0)
    variance = float(noise_sd) ** 2 / int(n) * np.sum(h**2, axis=0)
    return {"bias": bias, "variance": variance, "risk": bias + variance}


def sm_floor(mu: ArrayLike, theta2: ArrayLike, teacher_ridge: float) -> float:
    """The SM floor ``sum_k (lam_T / (mu_k + lam_T))^2 theta_k^2`` (claim RAT-1).

    A lower bound on the SM bias for every student ridge ``lam_S >= 0``, independent of ``n``;
    it is the limit of the SM risk as ``n -> inf`` and ``lam_S -> 0``.
    """
    mu = np.asarray(mu, dtype=float)
    lam_T = float(_ridge_path(teacher_ridge, "teacher_ridge")[0])
    return float(np.sum((lam_T / (mu + lam_T)) ** 2 * np.asarray(theta2, dtype=float)))


def unseen_energy(mu: ArrayLike, theta2: ArrayLike) -> float:
    """``sum_{k: mu_k = 0} theta_k^2``: the part of ``f*`` a blind teacher cannot see (RAT-5).

    In the sequence model the RaT floor (``lam_S -> 0``) equals this energy: RaT removes shrinkage
    bias, not blindness.
    """
    mu = np.asarray(mu, dtype=float)
    return float(np.sum(np.asarray(theta2, dtype=float)[mu <= 0]))


def rat_ridge_schedule(
    n: ArrayLike, decay: float, teacher_ridge: float, scale: float = 1.0
) -> NDArray:
    """Student ridge ``lam_S = c^2 / (c + lam_T)``, ``c = scale * n^{-2a/(2a+1)}`` (CLAIMS.md 1.3).

    RaT's effective eigenvalues are ``mu_k s_k = mu_k^2 / (mu_k + lam_T)``; the minimax cut-off
    ``mu_k ~ c`` is reached when ``lam_S = c^2 / (c + lam_T)``, about ``c^2 / lam_T`` for a
    strongly regularized teacher: the usual schedule ``lam_S ~ c`` is wrong for RaT.
    """
    c = float(scale) * np.asarray(n, dtype=float) ** minimax_exponent(decay)
    return c * c / (c + float(teacher_ridge))


def picard_rate_sequence(
    mu: ArrayLike,
    *,
    teacher_ridge: float,
    student_ridge: float,
    step: float = 1.0,
    student_mu: ArrayLike | None = None,
) -> float:
    """``rho(M) = max_k |nu_k (1 - eta s_k)| / (nu_k + eta lam_S)``: the Picard rate in the
    sequence model (claim RAT-3)."""
    mu = np.asarray(mu, dtype=float)
    nu = mu if student_mu is None else np.asarray(student_mu, dtype=float)
    s = mu / (mu + float(teacher_ridge))
    num = np.abs(nu * (1.0 - step * s))
    den = nu + step * float(student_ridge)
    # a direction with nu_k = 0 is invisible to the student: its factor is 0
    return float(np.max(np.divide(num, den, out=np.zeros_like(num), where=den > 0)))


def rate_tight_coefficients(k: ArrayLike, decay: float = 1.0) -> NDArray:
    """``theta_k = k^{-a - 1/2} / log(k + 1)``: an ``f*`` in the RKHS for which ``n^{-2a/(2a+1)}``
    is tight up to logarithms (claim RAT-2); unnormalized."""
    k = np.asarray(k, dtype=float)
    return k ** (-float(decay) - 0.5) / np.log(k + 1.0)


def population_teacher_bias(
    kernel,
    f_star,
    teacher_ridge: float,
    shift: CovariateShift,
    n_quad: int = 4000,
) -> float:
    """``||T_lam f* - f*||^2_{L2(Q)}`` with ``T_lam = (T_P + lam_T)^{-1} T_P`` (RAT-1, with shift).

    The noiseless population teacher (``n -> inf`` at fixed ``lam_T``) fitted under the source
    ``P`` and measured under the target ``Q``, by a Nystrom discretization on the midpoint rule
    with ``n_quad`` cells. This is the SM floor under covariate shift (student ridge -> 0, the
    student's RKHS containing the teacher's); without shift it equals :func:`sm_floor`.

    Parameters
    ----------
    kernel : callable
        ``kernel(X, Y)`` Gram matrix (a kernel of :mod:`kdtheory.kernels`).
    f_star : callable
        ``f_star(X)`` for ``X`` of shape (N, 1).
    teacher_ridge : float
        ``lam_T > 0``.
    shift : CovariateShift
    """
    quad_p = CovariateShift(shift.target, shift.source).target_quadrature(n_quad)
    x = quad_p.points
    Kw = kernel(x, x) * quad_p.weights[None, :]
    f = np.asarray(f_star(x), dtype=float)
    g = np.linalg.solve(Kw + float(teacher_ridge) * np.eye(len(f)), Kw @ f)
    q = shift.target.density(x[:, 0]) / n_quad
    return float(np.sum(q * (g - f) ** 2))


# --------------------------------------------------------------------------- NAG-2..NAG-5
# Each inequality of CLAIMS.md 2.2 as a function returning its signed gap: positive where the
# inequality holds strictly, zero at equality. The gaps are differences of logarithms computed from
# ``log F`` (kdtheory.dynamics.log_gd_filter), so they stay resolvable where the progress fractions
# themselves round to 1 in float64. Tests and figures use these same functions.


def ratio_exaggeration_gap(
    lam_top: ArrayLike,
    lam_bottom: ArrayLike,
    t: float | Sequence[float],
    T: float,
    learning_rate: float | None = None,
) -> NDArray:
    """NAG-2: ``log(F_j(T) / F_k(T)) - log(S_j / S_k)``, ``lam_k = lam_top > lam_j = lam_bottom``.

    Positive for finite ``t, T > 0`` and ``lam_top > lam_bottom``: the student's bottom/top
    progress ratio is below the teacher's. Zero for equal eigenvalues; tends to 0 as ``t -> inf``.
    Since ``S = F(T) prod_i F(t_i)`` the teacher's factor cancels and the gap equals
    ``sum_i (log F_k(t_i) - log F_j(t_i))``; it is evaluated in that form, which keeps its
    digits when ``T`` is short (subtracting the two log ratios would cancel them). The tests
    compare it with a high-precision evaluation of the definition.

    Parameters
    ----------
    lam_top, lam_bottom : float or array_like
        Eigenvalues of ``X^T X`` (broadcast together).
    t : float or sequence of float
        Student time(s); a sequence compares the last generation with the teacher.
    T : float
        Teacher time (validated; it cancels).
    learning_rate : float, optional
        ``None`` for gradient flow; a step with ``learning_rate * lam_top <= 1`` for descent.

    Returns
    -------
    ndarray
        The gap, in natural-log units.
    """
    _times(T, "T")
    gap = 0.0
    for ti in np.atleast_1d(_times(t, "t")):
        gap = gap + (
            log_gd_filter(lam_top, ti, learning_rate) - log_gd_filter(lam_bottom, ti, learning_rate)
        )
    return np.asarray(gap)


def matched_progress_gap(
    lam_top: ArrayLike,
    lam_bottom: ArrayLike,
    t: float | Sequence[float],
    T: float,
    learning_rate: float | None = None,
) -> NDArray:
    """NAG-3: ``log F_j(tau) - log S_j(t; T)`` where ``F_k(tau) = S_k(t; T)``, ``k`` the top.

    At matched progress along the top direction (:func:`kdtheory.dynamics.matched_progress_time`)
    a model trained on the labels has made more progress along every lower direction than the
    student: the gap is positive for ``lam_bottom < lam_top`` and finite ``t, T > 0``.

    Parameters
    ----------
    lam_top : float or array_like
        ``lam_k > 0``.
    lam_bottom : float or array_like
        ``lam_j``, broadcast with ``lam_top``.
    t, T, learning_rate
        As in :func:`ratio_exaggeration_gap`; ``learning_rate * lam_top < 1``.

    Returns
    -------
    ndarray
        The gap, in natural-log units.
    """
    tau = matched_progress_time(lam_top, t, T, learning_rate)
    return log_gd_filter(lam_bottom, tau, learning_rate) - log_distill_filter(
        lam_bottom, t, T, learning_rate
    )


def scalar_exaggeration_gap(a: ArrayLike, c: ArrayLike, r: ArrayLike) -> NDArray:
    """NAG-3's scalar form: ``log g_r(a c) - log g_r(a) - log g_r(c)``, ``g_r(x) = 1 - (1 - x)^r``.

    Positive for ``a, c`` in (0, 1) and ``r`` in (0, 1); zero at ``r = 1`` and at ``a = 1`` or
    ``c = 1`` (CLAIMS.md 2.2 gives the proof). Computed as ``g_r(x) = -expm1(r log1p(-x))``.
    ``a = 0`` or ``c = 0`` (no progress) makes both sides 0 and the log gap undefined, so they are
    rejected.

    Parameters
    ----------
    a, c : array_like
        Progress fractions in (0, 1].
    r : array_like
        Eigenvalue ratio ``lam_j / lam_k`` in (0, 1].

    Returns
    -------
    ndarray
    """
    a, c, r = (np.asarray(v, dtype=float) for v in (a, c, r))
    for name, v in (("a", a), ("c", c), ("r", r)):
        if np.any(np.isnan(v)) or np.any(v <= 0) or np.any(v > 1):
            raise ValueError(f"{name} must lie in (0, 1], got {v!r}.")

    def log_g(x):
        with np.errstate(divide="ignore"):
            return _log1mexp(r * np.log1p(-x))

    return log_g(a * c) - log_g(a) - log_g(c)


def bottom_top_log_ratios(
    lam_top: float,
    lam_bottom: float,
    times: Sequence[float],
    learning_rate: float | None = None,
) -> NDArray:
    """``log(P_j / P_k)`` for generations ``0..m`` of self-distillation (NAG-4).

    Generation 0 is trained on the labels for ``times[0]`` (the teacher); generation ``g`` on
    generation ``g - 1``'s predictions for ``times[g]``; its progress is
    ``prod_{i <= g} F(times[i])``.

    Returns
    -------
    ndarray of shape (len(times),)
    """
    ts = np.atleast_1d(_times(times, "times"))
    steps = np.stack(
        [
            log_gd_filter(lam_bottom, ti, learning_rate) - log_gd_filter(lam_top, ti, learning_rate)
            for ti in ts
        ]
    )
    return np.cumsum(steps, axis=0)


def generation_gaps(
    lam_top: float,
    lam_bottom: float,
    times: Sequence[float],
    learning_rate: float | None = None,
) -> NDArray:
    """NAG-4: the drop of the bottom/top log progress ratio at each further generation.

    ``gap_g = log(P_j/P_k)^{(g-1)} - log(P_j/P_k)^{(g)}`` for ``g = 1..m``: positive when every
    further generation strictly lowers the ratio (finite times, ``lam_bottom < lam_top``).

    Returns
    -------
    ndarray of shape (len(times) - 1,)
    """
    ts = np.atleast_1d(_times(times, "times"))
    # the drop at generation g is log F_k(t_g) - log F_j(t_g); differencing the running sums of
    # bottom_top_log_ratios would cancel its digits when the earlier generations dominate
    return (
        np.stack(
            [
                log_gd_filter(lam_top, ti, learning_rate)
                - log_gd_filter(lam_bottom, ti, learning_rate)
                for ti in ts[1:]
            ]
        )
        if ts.size > 1
        else np.zeros((0,) + np.broadcast(lam_top, lam_bottom).shape)
    )


def _effective_eigenvalues(eigenvalues: ArrayLike, learning_rate: float | None) -> NDArray:
    """``ell = -log q``: ``lam`` for flow, ``-log1p(-eta lam)`` for descent with ``eta lam < 1``."""
    lam = _eigenvalues(eigenvalues)
    if learning_rate is not None and np.any(float(learning_rate) * lam >= 1.0):
        raise ValueError(
            "learning_rate * eigenvalue must be < 1 for the filter order (monotone progress); "
            f"got learning_rate={learning_rate!r} with largest eigenvalue {np.max(lam)!r}."
        )
    return -_log_q(lam, learning_rate)


def filter_order_ratio(
    eigenvalues: ArrayLike,
    times: Sequence[float],
    learning_rate: float | None = None,
) -> NDArray:
    """NAG-5: ``prod_i F(lam; t_i) / prod_i (ell t_i)``, with ``ell = -log q`` (``lam`` for flow).

    One time is the label filter (linear at the bottom of the spectrum), two the KD filter
    (quadratic), ``m`` the ``m``-th generation. The ratio tends to 1 as ``lam -> 0`` and lies in
    ``[1 - filter_order_bound, 1]``. For descent
    ``ell = -log1p(-eta lam) = eta lam (1 + O(eta lam))``.
    Each factor ``F / (ell t) = exprel(-ell t)`` is evaluated without cancellation.

    Parameters
    ----------
    eigenvalues : array_like
        ``lam > 0``.
    times : sequence of float
        Positive times ``t_i``.
    learning_rate : float, optional
        ``learning_rate * max(eigenvalues) < 1`` for descent.

    Returns
    -------
    ndarray
    """
    ell = _effective_eigenvalues(eigenvalues, learning_rate)
    out = np.ones(ell.shape)
    for ti in np.atleast_1d(_times(times, "times")):
        out = out * scipy.special.exprel(-ell * ti)
    return out


def filter_order_bound(
    eigenvalues: ArrayLike,
    times: Sequence[float],
    learning_rate: float | None = None,
) -> NDArray:
    """Upper bound on ``1 - filter_order_ratio``: ``1 - prod_i max(0, 1 - ell t_i / 2)`` (NAG-5).

    From ``1 - x/2 <= (1 - exp(-x)) / x <= 1`` for ``x >= 0``. It is ``O(lam)``, so the KD
    filter is ``lam^2 t T (1 + O(lam))`` and the label filter ``lam tau (1 + O(lam))``.
    """
    ell = _effective_eigenvalues(eigenvalues, learning_rate)
    out = np.ones(ell.shape)
    for ti in np.atleast_1d(_times(times, "times")):
        out = out * np.maximum(0.0, 1.0 - ell * ti / 2.0)
    return 1.0 - out
