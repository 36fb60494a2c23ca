"""Spectral filters of gradient descent and gradient flow, and of distillation through them.

The progress fractions ``F_k(t)`` of :mod:`kdtheory.dynamics` (its module docstring states the
setting, CLAIMS.md 2.1), computed from ``log(1 - F) = t log q`` so that tiny and nearly-one
fractions stay accurate; the public names are re-exported by :mod:`kdtheory.dynamics`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "gd_filter",
    "log_gd_filter",
    "distill_filter",
    "log_distill_filter",
    "switch_filter",
    "matched_progress_time",
]


# --------------------------------------------------------------------------- validation
def _eigenvalues(eigenvalues: ArrayLike) -> NDArray:
    lam = np.asarray(eigenvalues, dtype=float)
    if lam.size and (np.any(~np.isfinite(lam)) or np.any(lam < 0)):
        raise ValueError(
            f"eigenvalues must be finite and >= 0 (eigenvalues of X^T X), got {eigenvalues!r}."
        )
    return lam


def _times(t: ArrayLike, name: str) -> NDArray:
    ts = np.asarray(t, dtype=float)
    if np.any(np.isnan(ts)) or np.any(ts < 0):
        raise ValueError(f"{name} must be >= 0 (np.inf allowed: run to convergence), got {t!r}.")
    return ts


def _log_q(lam: NDArray, learning_rate: float | None) -> NDArray:
    """``log q_k`` with ``q = exp(-lam)`` (flow) or ``1 - eta lam`` (descent); ``-inf`` at ``q=0``.

    Descent with ``1 <= eta lam < 2`` has ``q <= 0`` (oscillating convergence): the log is taken of
    ``|q|`` and the sign is restored in :func:`gd_filter` (whole ``t`` only).
    """
    if learning_rate is None:
        return -lam
    eta = float(learning_rate)
    if not (np.isfinite(eta) and eta > 0):
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}.")
    top = float(np.max(lam)) if lam.size else 0.0
    if eta * top >= 2.0:
        raise ValueError(
            "learning_rate times the largest eigenvalue must be < 2 for gradient descent to "
            f"converge; got learning_rate={eta!r}, largest eigenvalue {top!r} "
            f"(product {eta * top!r})."
        )
    u = eta * lam  # log1p: log(1 - u) would lose every digit of log q below eps / u
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(u <= 1.0, np.log1p(-u), np.log(u - 1.0))


def _oscillating(lam: NDArray, learning_rate: float | None) -> NDArray | bool:
    if learning_rate is None:
        return False
    return float(learning_rate) * lam > 1.0


def _t_log_q(t: NDArray, log_q: NDArray) -> NDArray:
    """``t log q`` with ``0 * (-inf) = 0`` (no steps) and ``inf * 0 = 0`` (a zero eigenvalue)."""
    with np.errstate(invalid="ignore"):
        out = t * log_q
    return np.where((t == 0) | (log_q == 0), 0.0, out)


def _log1mexp(x: NDArray) -> NDArray:
    """``log(1 - exp(x))`` for ``x <= 0``, accurate everywhere (Maechler's switch at ``-log 2``)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > -np.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def _check_integer_steps(t: NDArray, osc) -> None:
    if np.any(osc) and np.any(np.isfinite(t) & (t != np.round(t))):
        raise ValueError(
            "t must be whole numbers of steps when learning_rate * eigenvalue > 1 "
            "(q = 1 - eta lam < 0 has no real non-integer powers)."
        )


# --------------------------------------------------------------------------- filters
def gd_filter(eigenvalues: ArrayLike, t: ArrayLike, learning_rate: float | None = None) -> NDArray:
    """Progress fractions ``F_k(t)`` of least squares trained from zero (CLAIMS.md 2.1, NAG-1).

    Parameters
    ----------
    eigenvalues : array_like
        Eigenvalues ``lam_k >= 0`` of ``X^T X`` (squares of the singular values of ``X``).
    t : float or array_like
        Training time (gradient flow) or number of steps (gradient descent), ``>= 0``;
        ``np.inf`` means trained to convergence. Broadcast against ``eigenvalues``.
    learning_rate : float, optional
        ``None`` (default): gradient flow, ``F = 1 - exp(-lam t) = -expm1(-lam t)``.
        A step ``eta`` with ``eta * max(lam) < 2``: gradient descent,
        ``F = 1 - (1 - eta lam)^t = -expm1(t log1p(-eta lam))`` (whole ``t`` needed where
        ``eta lam > 1``).

    Returns
    -------
    ndarray
        ``F_k(t)`` in ``[0, 1]`` for ``eta lam <= 1``; a zero eigenvalue makes no progress.

    Raises
    ------
    ValueError
        Negative or non-finite eigenvalues, negative times, ``learning_rate <= 0`` or
        ``learning_rate * max(eigenvalues) >= 2``.

    Examples
    --------
    >>> gd_filter([1.0, 1e-3], 2.0).round(6)
    array([0.864665, 0.001998])
    >>> gd_filter([1.0, 0.5], 3, learning_rate=0.5)
    array([0.875   , 0.578125])
    """
    lam = _eigenvalues(eigenvalues)
    ts = _times(t, "t")
    log_q = _log_q(lam, learning_rate)
    osc = _oscillating(lam, learning_rate)
    _check_integer_steps(np.broadcast_to(ts, np.broadcast_shapes(ts.shape, lam.shape)), osc)
    x = _t_log_q(ts, log_q)
    if not np.any(osc):
        return -np.expm1(x)
    # q < 0: q^t = (-1)^t |q|^t for whole t
    odd = np.mod(np.where(np.isfinite(ts), ts, 0.0), 2) == 1  # t = inf: q^t = 0, no sign
    sign = np.where(osc & odd, -1.0, 1.0)
    return np.where(osc, 1.0 - sign * np.exp(x), -np.expm1(x))


def log_gd_filter(
    eigenvalues: ArrayLike, t: ArrayLike, learning_rate: float | None = None
) -> NDArray:
    """``log F_k(t)``, accurate also where ``F_k`` rounds to 1 in float64 (NAG-2..4).

    ``log F = log(1 - q^t)`` is evaluated as ``log(-expm1(t log q))`` or ``log1p(-q^t)``,
    whichever is accurate. Requires ``learning_rate * max(eigenvalues) <= 1`` (monotone
    progress); otherwise a ``ValueError``. A zero eigenvalue or ``t = 0`` gives ``-inf``.

    Parameters
    ----------
    eigenvalues, t, learning_rate
        As in :func:`gd_filter`.

    Returns
    -------
    ndarray
        ``log F_k(t) <= 0``.
    """
    lam = _eigenvalues(eigenvalues)
    ts = _times(t, "t")
    log_q = _log_q(lam, learning_rate)
    if np.any(_oscillating(lam, learning_rate)):
        raise ValueError(
            "log_gd_filter needs learning_rate * eigenvalue <= 1 (monotone progress); "
            f"got learning_rate={learning_rate!r} with largest eigenvalue {np.max(lam)!r}."
        )
    return _log1mexp(_t_log_q(ts, log_q))


def _generation_times(t: ArrayLike | Sequence[float], name: str = "t") -> NDArray:
    ts = np.atleast_1d(_times(t, name))
    if ts.ndim != 1:
        raise ValueError(
            f"{name} must be a number or a 1-d sequence of times, got shape {ts.shape}."
        )
    return ts


def distill_filter(
    eigenvalues: ArrayLike,
    t: float | Sequence[float],
    T: float,
    learning_rate: float | None = None,
) -> NDArray:
    """Student progress ``S_k = F_k(t) F_k(T)``; a sequence ``t`` gives later generations (NAG-2).

    The teacher is trained on the labels for ``T``; the student (from zero, same inputs) on the
    teacher's training predictions for ``t``. With ``t = (t_1, ..., t_m)`` generation ``i`` is
    trained for ``t_i`` on generation ``i - 1``'s training predictions, and the filter is
    ``F_k(T) prod_i F_k(t_i)`` (CLAIMS.md 2.1).

    Parameters
    ----------
    eigenvalues : array_like
        ``lam_k >= 0``.
    t : float or sequence of float
        Student time(s), ``>= 0``.
    T : float
        Teacher time, ``>= 0``; ``np.inf`` is a teacher that interpolates (NAG-4).
    learning_rate : float, optional
        As in :func:`gd_filter`.

    Returns
    -------
    ndarray
        Same shape as ``eigenvalues``.

    Examples
    --------
    >>> distill_filter([1.0], 1.0, np.inf).round(6)  # an interpolating teacher changes nothing
    array([0.632121])
    """
    lam = _eigenvalues(eigenvalues)
    out = gd_filter(lam, _times(T, "T"), learning_rate)
    for ti in _generation_times(t):
        out = out * gd_filter(lam, ti, learning_rate)
    return out


def log_distill_filter(
    eigenvalues: ArrayLike,
    t: float | Sequence[float],
    T: float,
    learning_rate: float | None = None,
) -> NDArray:
    """``log S_k = log F_k(T) + sum_i log F_k(t_i)``, accurate where ``S_k`` rounds to 1."""
    lam = _eigenvalues(eigenvalues)
    out = log_gd_filter(lam, _times(T, "T"), learning_rate)
    for ti in _generation_times(t):
        out = out + log_gd_filter(lam, ti, learning_rate)
    return out


def switch_filter(
    eigenvalues: ArrayLike,
    s: ArrayLike,
    u: ArrayLike,
    T: float,
    learning_rate: float | None = None,
) -> NDArray:
    """Late distillation: labels for ``s``, then the teacher's predictions for ``u`` (NAG-7).

    From ``w(s) = F(s) w*`` the flow toward the teacher's target ``F(T) w*`` contracts the gap by
    ``q^u = 1 - F(u)`` along every direction, so the filter is
    ``F_k(T) + (F_k(s) - F_k(T)) (1 - F_k(u))``. ``s = 0`` gives :func:`distill_filter`,
    ``u = 0`` label training for ``s``.

    Parameters
    ----------
    eigenvalues : array_like
        ``lam_k >= 0``.
    s, u : float or array_like
        Time on the labels, then time on the teacher (broadcast with ``eigenvalues``).
    T : float
        Teacher time.
    learning_rate : float, optional
        As in :func:`gd_filter`.

    Returns
    -------
    ndarray
    """
    lam = _eigenvalues(eigenvalues)
    f_T = gd_filter(lam, _times(T, "T"), learning_rate)
    f_s = gd_filter(lam, _times(s, "s"), learning_rate)
    f_u = gd_filter(lam, _times(u, "u"), learning_rate)
    # F_T F_u + F_s (1 - F_u), with 1 - F_u = q^u, keeps its digits when F_u is tiny and makes
    # the limits s = 0 and u = 0 exact
    return f_T * f_u + f_s * (1.0 - f_u)


def matched_progress_time(
    eigenvalue: ArrayLike,
    t: float | Sequence[float],
    T: float,
    learning_rate: float | None = None,
) -> NDArray:
    """The time ``tau`` with ``F_k(tau) = S_k(t; T)`` along direction ``k`` (NAG-3).

    A model trained on the labels for ``tau`` has made the same progress along ``v_k`` as the
    student. ``tau = log(1 - S_k) / log q_k``, with ``log(1 - S_k)`` computed from ``log S_k``
    (:func:`log_distill_filter`), so ``tau`` is accurate also when ``S_k`` rounds to 1.
    For gradient descent ``tau`` is a real number of steps (``q^tau`` with real powers).

    Parameters
    ----------
    eigenvalue : float or array_like
        ``lam_k > 0`` (usually the top eigenvalue).
    t, T, learning_rate
        As in :func:`distill_filter`; ``learning_rate * eigenvalue`` must be ``< 1``.

    Returns
    -------
    ndarray
        ``tau``, ``< min(T, t)`` for finite times (NAG-3).
    """
    lam = _eigenvalues(eigenvalue)
    if np.any(lam <= 0):
        raise ValueError(f"eigenvalue must be > 0 to define a matched time, got {eigenvalue!r}.")
    log_q = _log_q(lam, learning_rate)
    if np.any(~np.isfinite(log_q)):
        raise ValueError("learning_rate * eigenvalue must be < 1 to define a matched time.")
    log_one_minus_s = _log1mexp(log_distill_filter(lam, t, T, learning_rate))
    # Where every q^{t_i} < e^-40, log S underflows to 0 once all t_i |log q| > ~745 (tau would be
    # inf); there 1 - S = sum_i q^{t_i} to relative error m e^-40, a log-sum-exp of t_i log q.
    exponents = np.stack(
        [_t_log_q(ti, log_q) for ti in np.append(_times(T, "T"), _generation_times(t))]
    )
    tail = np.logaddexp.reduce(exponents, axis=0)
    log_one_minus_s = np.where(np.max(exponents, axis=0) < -40.0, tail, log_one_minus_s)
    return log_one_minus_s / log_q
