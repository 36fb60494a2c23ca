"""What the theorems predict: minimax exponents, sequence-model risks, the SM floor.

The sequence model of THEORY.md 1.3 (ours): teacher and student are diagonal in one orthonormal
basis with teacher eigenvalues ``mu_k`` and student eigenvalues ``nu_k``. In THEORY.md's ridge
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

import numpy as np
from numpy.typing import ArrayLike, NDArray

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
    lam = np.atleast_1d(np.asarray(lam, dtype=float))
    if np.any(~np.isfinite(lam)) or np.any(lam < 0):
        raise ValueError(f"{name} must be finite and >= 0, got {lam!r}.")
    return lam


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
    """Bias, variance and risk of ``method`` in the sequence model (THEORY.md 1.3; RAT-1, RAT-2).

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
    """Student ridge ``lam_S = c^2 / (c + lam_T)``, ``c = scale * n^{-2a/(2a+1)}`` (THEORY.md 1.3).

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
