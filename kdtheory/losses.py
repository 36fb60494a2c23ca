"""Distillation losses as pure functions of numpy arrays, in numerically safe forms.

- :func:`kl_divergence` and the Cressie-Read :func:`power_divergence` (CLAIMS.md 4, claim PD-1:
  ``lam -> 0`` is KL, ``lam -> -1`` the reverse KL, agreement with ``scipy.stats``);
- Hinton's tempered KD loss :func:`tempered_kd_loss` ``T^2 KL(w || q)`` with
  ``w = softmax(log p_hat / T)`` and ``q = softmax(z / T)``, and the public code's orthogonal
  correction :func:`kd_orthogonal_correction` (CLAIMS.md 3.1, ``KDOrthoLoss`` of
  ``microsoft/semiparametric-distillation``): the directional derivative in ``p`` of the
  ``z``-dependent part ``-sum_j w_j(p) log q_j`` along ``y - p_hat``; at ``T = 1`` the corrected
  loss is the hard-label cross-entropy minus the teacher's entropy (CLAIMS.md 3.1; the
  first-order cancellation behind claim SEMI-1);
- the binary squared losses ``(z - g(p))^2`` of :mod:`kdtheory.semiparametric` and their
  orthogonal correction :func:`orthogonal_squared_loss`, which is the squared loss to the
  orthogonal regression target up to a ``z``-independent constant.

All losses are per sample (reduced over the class axis, the last one); the public code averages
them over the batch, i.e. takes ``.mean()`` of what these functions return. Class probabilities lie
along the last axis; ``student_logits`` are the student's logits ``z``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import kl_div, log_softmax, rel_entr

from kdtheory.semiparametric import (
    _check_scale,
    _link,
    clip_proba,
    orthogonal_gamma,
)

__all__ = [
    "kl_divergence",
    "power_divergence",
    "cross_entropy",
    "tempered_kd_loss",
    "kd_orthogonal_correction",
    "corrected_kd_loss",
    "squared_loss",
    "orthogonal_squared_loss",
]


def _as_float(a: ArrayLike) -> NDArray:
    return np.asarray(a, dtype=float)


def _nonnegative(a: ArrayLike, name: str) -> NDArray:
    """``a`` as floats, or a ValueError naming ``name`` and the first negative or NaN entry."""
    a = _as_float(a)
    bad = np.isnan(a) | (a < 0)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} must hold non-negative numbers (probabilities or counts); entry {where} is "
            f"{a[where]!r}."
        )
    return a


def kl_divergence(p: ArrayLike, q: ArrayLike, axis: int = -1) -> NDArray:
    """``KL(p || q) = sum_k p_k log(p_k / q_k)`` of probability vectors along ``axis``.

    Terms with ``p_k = 0`` are 0; a term with ``p_k > 0 = q_k`` is ``+inf``
    (:func:`scipy.special.rel_entr`).
    """
    return np.sum(rel_entr(_nonnegative(p, "p"), _nonnegative(q, "q")), axis=axis)


def power_divergence(p: ArrayLike, q: ArrayLike, lam: float, axis: int = -1) -> NDArray:
    """Cressie-Read power divergence ``D_lam(p || q)`` (CLAIMS.md 4, claim PD-1).

    For vectors with equal sums (probability vectors, or observed and expected counts)::

        D_lam(p || q) = 1 / (lam (lam + 1)) sum_k p_k ((p_k / q_k)^lam - 1),

    which is ``scipy.stats.power_divergence(p, q, lambda_=lam).statistic / 2``. We evaluate the
    f-divergence ``sum_k q_k f(p_k / q_k)`` with ``f(t) = (t^(lam+1) - 1 - (lam+1)(t-1)) /
    (lam (lam+1))``, which adds ``-(p_k - q_k) / (lam + 1)`` per term (summing to 0 for equal
    sums) and so is non-negative term by term for any non-negative vectors. In the form
    ``sum_k [p_k expm1(lam log(p_k/q_k)) / lam - (p_k - q_k)] / (lam + 1)`` it is accurate as
    ``lam -> 0`` (``lam = 0`` is the generalized KL ``sum p log(p/q) - p + q``); for
    ``lam < -1/2`` the exact duality ``D_lam(p || q) = D_{-1-lam}(q || p)`` keeps it accurate as
    ``lam -> -1`` (the reverse KL at ``lam = -1``).

    Parameters
    ----------
    p, q : array-like
        Non-negative vectors along ``axis`` (broadcast together); a negative or NaN entry raises
        ``ValueError``.
    lam : float
        The power; 1 is half Pearson's chi-square, 2/3 Cressie-Read's recommendation.
    axis : int, default=-1
    """
    lam = float(lam)
    if not np.isfinite(lam):
        raise ValueError(f"lam must be a finite number, got {lam!r}.")
    p, q = np.broadcast_arrays(_nonnegative(p, "p"), _nonnegative(q, "q"))
    if lam < -0.5:
        return power_divergence(q, p, -1.0 - lam, axis=axis)
    if lam == 0.0:
        return np.sum(kl_div(p, q), axis=axis)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_ratio = np.log(p) - np.log(q)
        # p ((p/q)^lam - 1) / lam; 0 where p = 0 (p^(lam+1) q^(-lam) -> 0 for lam > -1)
        scaled = np.where(p > 0, p * np.expm1(lam * log_ratio) / lam, 0.0)
    return np.sum(scaled - (p - q), axis=axis) / (lam + 1.0)


def _check_temperature(temperature: float) -> float:
    T = float(temperature)
    if not (np.isfinite(T) and T > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}.")
    return T


def _one_hot(y: ArrayLike, shape: tuple[int, ...]) -> NDArray:
    """``y`` as one-hot rows of ``shape``: given one-hot, or as integer labels of shape[:-1]."""
    y = np.asarray(y)
    if y.shape == shape:
        return y.astype(float)
    if y.shape == shape[:-1] and y.dtype.kind in "iu":
        return (y[..., None] == np.arange(shape[-1])).astype(float)
    raise ValueError(
        f"y_onehot must be one-hot of shape {shape} or integer labels of shape {shape[:-1]}, "
        f"got shape {y.shape}."
    )


def _tempered(student_logits, teacher_proba, temperature):
    """``T``, ``w = softmax(log p / T)`` with its log, and ``log q = log_softmax(z / T)``."""
    T = _check_temperature(temperature)
    p = _nonnegative(teacher_proba, "teacher_proba")
    z = _as_float(student_logits)
    if p.shape != z.shape:
        raise ValueError(
            f"teacher_proba and student_logits must have the same shape, got {p.shape} and "
            f"{z.shape}."
        )
    with np.errstate(divide="ignore"):
        log_w = log_softmax(np.log(p) / T, axis=-1)
    log_q = log_softmax(z / T, axis=-1)
    return T, p, np.exp(log_w), log_w, log_q


def cross_entropy(student_logits: ArrayLike, y_onehot: ArrayLike) -> NDArray:
    """Hard-label cross-entropy ``-sum_j y_j log softmax(z)_j`` per sample."""
    log_q = log_softmax(_as_float(student_logits), axis=-1)
    y = _one_hot(y_onehot, log_q.shape)
    with np.errstate(invalid="ignore"):  # 0 * (-inf) for a -inf logit, masked out
        return -np.sum(np.where(y > 0, y * log_q, 0.0), axis=-1)


def tempered_kd_loss(
    student_logits: ArrayLike, teacher_proba: ArrayLike, temperature: float
) -> NDArray:
    """Hinton's KD loss ``T^2 KL(w || q)`` per sample (CLAIMS.md 3.1).

    ``w = softmax(log p_hat / T)`` (``= softmax(t / T)`` for teacher logits ``t``) and
    ``q = softmax(z / T)``; computed from log-softmaxes, classes with ``p_hat = 0`` contribute 0.
    """
    T, _, w, log_w, log_q = _tempered(student_logits, teacher_proba, temperature)
    diff = np.where(w > 0, log_w - log_q, 0.0)
    return T**2 * np.sum(w * diff, axis=-1)


def kd_orthogonal_correction(
    student_logits: ArrayLike,
    teacher_proba: ArrayLike,
    y_onehot: ArrayLike,
    temperature: float,
    eps: float = 1e-2,
) -> NDArray:
    """The public code's orthogonal correction of tempered KD, per sample (``KDOrthoLoss``).

    ``a [(sum_j r_j w_j)(sum_j w_j log q_j) - sum_j r_j w_j log q_j]`` with ``a = 1/T``,
    ``r_j = y_j / max(p_hat_j, eps) - 1``, ``w`` and ``q`` as in :func:`tempered_kd_loss`.
    Where ``p_hat_y >= eps`` (the clamp inactive) it equals the directional derivative
    ``sum_i (y_i - p_i) d/dp_i [-sum_j w_j(p) log q_j]`` at ``p = p_hat`` (from
    ``d w_j / d p_i = a w_j (delta_ij - w_i) / p_i``), the first-order term of the orthogonal loss
    ``l(z, p_hat) + <d_p l(z, p_hat), y - p_hat>`` (CLAIMS.md 3.1). The entropy part of the KL does
    not depend on ``z`` and is not corrected.

    Parameters
    ----------
    student_logits : array of shape (..., k)
    teacher_proba : array of shape (..., k)
        Rows on the simplex.
    y_onehot : array of shape (..., k), or integer labels of shape (...)
    temperature : float > 0
    eps : float, default=1e-2
        Floor on ``p_hat`` in ``r`` (the public code's default).
    """
    T, p, w, _, log_q = _tempered(student_logits, teacher_proba, temperature)
    y = _one_hot(y_onehot, p.shape)
    r_w = (y / np.maximum(p, eps) - 1.0) * w
    with np.errstate(invalid="ignore"):  # 0 * (-inf) for a -inf logit, masked out
        w_log_q = np.where(w > 0, w * log_q, 0.0)
        rw_log_q = np.where(w > 0, r_w * log_q, 0.0)
    return (np.sum(r_w, axis=-1) * np.sum(w_log_q, axis=-1) - np.sum(rw_log_q, axis=-1)) / T


def corrected_kd_loss(
    student_logits: ArrayLike,
    teacher_proba: ArrayLike,
    y_onehot: ArrayLike,
    temperature: float,
    eps: float = 1e-2,
) -> NDArray:
    """``T^2 [KL(w || q) + correction]`` per sample: the public code's corrected KD term.

    The public code's training loss is the batch mean of ``(1 - alpha) cross_entropy(z, y) +
    alpha corrected_kd_loss(...)``. At ``T = 1`` and ``p_hat_y >= eps`` it equals
    ``cross_entropy(z, y) - H(p_hat)``: hard-label training up to a constant (CLAIMS.md 3.1).
    """
    T = _check_temperature(temperature)
    kd = tempered_kd_loss(student_logits, teacher_proba, T)
    corr = kd_orthogonal_correction(student_logits, teacher_proba, y_onehot, T, eps=eps)
    return kd + T**2 * corr


def squared_loss(z: ArrayLike, p: ArrayLike, *, scale: str = "p") -> NDArray:
    """``(z - g(p))^2`` with ``g(p) = p`` or ``log p`` (``p`` clipped at 1/500), binary ``p``."""
    return (_as_float(z) - _link(clip_proba(p, scale), scale)) ** 2


def orthogonal_squared_loss(
    z: ArrayLike, p_hat: ArrayLike, y: ArrayLike, *, scale: str = "p"
) -> NDArray:
    """``l(z, p_hat) + d_p l(z, p_hat) (y - p_hat)`` for ``l(z, p) = (z - g(p))^2`` (CLAIMS.md 3.1).

    ``= (z - g(p_hat))^2 - 2 (z - g(p_hat)) g'(p_hat) (y - p_hat)``, which equals
    ``(z - target)^2 - (g'(p_hat) (y - p_hat))^2`` with the orthogonal target
    ``target = g(p_hat) + g'(p_hat) (y - p_hat)`` (``y`` on the p scale, ``log p_hat + y/p_hat - 1``
    on the log scale): minimizing it over ``z`` is regressing on the orthogonal target. ``p_hat`` is
    clipped at 1/500 on the log scale, as the targets are.
    """
    _check_scale(scale)
    p = clip_proba(p_hat, scale)
    resid = _as_float(z) - _link(p, scale)
    return resid**2 - 2.0 * resid * orthogonal_gamma(p, scale) * (_as_float(y) - p)
