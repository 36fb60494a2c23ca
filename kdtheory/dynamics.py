"""Gradient descent and gradient flow for least squares, and distillation through them (NAG-1..5).

Setting (THEORY.md 2.1): squared loss ``L(w) = (1/2) ||X w - y||^2`` with the thin SVD
``X = sum_k s_k u_k v_k^T``, eigenvalues ``lam_k = s_k^2`` of ``X^T X`` (no ``1/n``), zero
initialization and ``w* = X^+ y`` with ``w*_k = <u_k, y> / s_k``. Along ``v_k`` a model trained on
``y`` has made the *progress fraction* ``F_k(t)`` of the way to ``w*_k``:

- gradient flow for time ``t``: ``F_k(t) = 1 - exp(-lam_k t)``;
- gradient descent, ``t`` steps of size ``eta``: ``F_k(t) = 1 - (1 - eta lam_k)^t``.

A student trained (from zero, same inputs) on a teacher's training predictions has
``S_k = F_k(t) F_k(T)``; generation ``g`` of self-distillation has ``prod_i F_k(t_i)``; a model
trained on the labels for time ``s`` and then on the teacher for time ``u`` has
``F_k(T) + (F_k(s) - F_k(T)) (1 - F_k(u))`` (late distillation, NAG-7).

Everything is computed from ``log(1 - F) = t log q`` with ``log q = -lam`` (flow) or
``log1p(-eta lam)`` (descent), so that ``F`` is accurate when it is tiny (``expm1``) and
``log F`` is accurate when ``F`` rounds to 1 (``log1p``): comparisons between directions are made
in log space (:func:`log_gd_filter`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from kdtheory._validation import check_numeric_y

__all__ = [
    "gd_filter",
    "log_gd_filter",
    "distill_filter",
    "log_distill_filter",
    "switch_filter",
    "matched_progress_time",
    "SpectralDecomposition",
    "gd_weights",
    "gd_predictions",
    "simulate_gd",
    "self_distillation_weights",
    "self_distill",
    "GradientDescentRegressor",
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
    """Progress fractions ``F_k(t)`` of least squares trained from zero (THEORY.md 2.1, NAG-1).

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
    ``F_k(T) prod_i F_k(t_i)`` (THEORY.md 2.1).

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


# --------------------------------------------------------------------------- closed forms
@dataclass(frozen=True)
class SpectralDecomposition:
    """Thin SVD of a design, computed once and reused for every time and generation (NAG-1).

    Attributes
    ----------
    left : ndarray of shape (n, r)
        ``u_k``, the eigenvectors of ``X X^T`` (training predictions live here).
    singular_values : ndarray of shape (r,)
        ``s_k > 0`` in decreasing order; directions with ``s_k <= rtol * s_1`` are dropped
        (gradient descent never moves along them from zero).
    right : ndarray of shape (r, p)
        ``v_k^T``, the eigenvectors of ``X^T X`` (weights live here).
    """

    left: NDArray
    singular_values: NDArray
    right: NDArray

    @classmethod
    def of(cls, X: ArrayLike, rtol: float | None = None) -> SpectralDecomposition:
        """Thin SVD of ``X`` with numerically zero singular values removed."""
        X = np.asarray(X, dtype=float)
        U, s, Vt = np.linalg.svd(X, full_matrices=False)
        if rtol is None:
            rtol = max(X.shape) * np.finfo(float).eps
        keep = s > rtol * (s[0] if s.size else 0.0)
        return cls(U[:, keep], s[keep], Vt[keep])

    @property
    def eigenvalues(self) -> NDArray:
        """``lam_k = s_k^2``, the nonzero eigenvalues of ``X^T X``."""
        return self.singular_values**2

    def weights(self, y: ArrayLike, progress: NDArray) -> NDArray:
        """``w = sum_k h_k (u_k^T y / s_k) v_k`` for a filter ``h`` of shape (r,) or (r, L)."""
        coef = (self.left.T @ np.asarray(y, dtype=float)) / self.singular_values
        h = np.asarray(progress, dtype=float)
        if h.ndim == 1:
            return self.right.T @ (h * coef)
        return (self.right.T @ (h * coef[:, None])).T


def gd_weights(
    X: ArrayLike, y: ArrayLike, t: ArrayLike, learning_rate: float | None = None
) -> NDArray:
    """Closed-form weights after training time (or steps) ``t`` from zero (NAG-1).

    ``w(t) = V diag(F(t) / s) U^T y``. A 1-d array of times gives the path, one SVD for all.

    Parameters
    ----------
    X : array of shape (n, p)
    y : array of shape (n,)
    t : float or 1-d array of times
    learning_rate : float, optional
        As in :func:`gd_filter`.

    Returns
    -------
    ndarray of shape (p,) or (len(t), p)
    """
    dec = SpectralDecomposition.of(X)
    ts = _times(t, "t")
    lam = dec.eigenvalues
    if ts.ndim == 0:
        return dec.weights(y, gd_filter(lam, ts, learning_rate))
    return dec.weights(y, gd_filter(lam[:, None], ts[None, :], learning_rate))


def gd_predictions(
    X: ArrayLike, y: ArrayLike, t: float, learning_rate: float | None = None
) -> NDArray:
    """Training predictions ``X w(t) = U diag(F(t)) U^T y = A(t) y`` (THEORY.md 2.1)."""
    dec = SpectralDecomposition.of(X)
    h = gd_filter(dec.eigenvalues, _times(t, "t"), learning_rate)
    return dec.left @ (h * (dec.left.T @ np.asarray(y, dtype=float)))


def simulate_gd(
    X: ArrayLike,
    y: ArrayLike,
    n_steps: int,
    learning_rate: float,
    w0: ArrayLike | None = None,
    return_path: bool = False,
) -> NDArray:
    """Gradient descent on ``(1/2)||X w - y||^2`` step by step: ``w <- w - eta X^T (X w - y)``.

    The reference against which the closed forms are tested (NAG-1); not used by the estimators.

    Returns
    -------
    ndarray of shape (p,), or (n_steps + 1, p) with ``return_path=True``.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if not (isinstance(n_steps, Integral) and n_steps >= 0):
        raise ValueError(f"n_steps must be an integer >= 0, got {n_steps!r}.")
    eta = float(learning_rate)
    w = np.zeros(X.shape[1]) if w0 is None else np.array(w0, dtype=float)
    path = [w.copy()] if return_path else None
    for _ in range(n_steps):
        w = w - eta * (X.T @ (X @ w - y))
        if return_path:
            path.append(w.copy())
    return np.array(path) if return_path else w


def self_distillation_weights(
    X: ArrayLike,
    y: ArrayLike,
    times: Sequence[float],
    learning_rate: float | None = None,
) -> NDArray:
    """Weights of every generation of self-distillation, closed form from one SVD (NAG-4).

    Generation 0 is trained on ``y`` for ``times[0]``; generation ``g`` on generation
    ``g - 1``'s training predictions for ``times[g]``. Its filter is ``prod_{i <= g} F(times[i])``.

    Returns
    -------
    ndarray of shape (len(times), p)
    """
    ts = _generation_times(times, "times")
    if ts.size == 0:
        raise ValueError("times must hold at least one time (generation 0, the teacher).")
    dec = SpectralDecomposition.of(X)
    lam = dec.eigenvalues
    filters = np.cumprod(np.stack([gd_filter(lam, ti, learning_rate) for ti in ts], axis=1), axis=1)
    return dec.weights(y, filters)


def self_distill(estimator, X: ArrayLike, y: ArrayLike, n_generations: int) -> list:
    """Train generation after generation on the previous generation's training predictions.

    Works with any scikit-learn regressor (each generation is a fresh ``clone``); with
    :class:`GradientDescentRegressor` it reproduces :func:`self_distillation_weights` (NAG-4).

    Parameters
    ----------
    estimator : regressor
        Unfitted template; generation 0 is fitted on ``y``.
    X, y : arrays
    n_generations : int
        Number of models, ``>= 1``.

    Returns
    -------
    list of fitted estimators, generation 0 first.
    """
    if not (isinstance(n_generations, Integral) and n_generations >= 1):
        raise ValueError(f"n_generations must be an integer >= 1, got {n_generations!r}.")
    models, targets = [], y
    for _ in range(n_generations):
        model = clone(estimator).fit(X, targets)
        models.append(model)
        targets = model.predict(X)
    return models


# --------------------------------------------------------------------------- estimator
class GradientDescentRegressor(RegressorMixin, BaseEstimator):
    """Early-stopped least squares: ``n_steps`` of gradient descent from zero (NAG-1).

    Minimizes ``(1/2) ||X w - y||^2`` (a sum, not a mean, so ``learning_rate`` is in the units of
    the eigenvalues of ``X^T X``) by ``w <- w - eta X^T (X w - y)`` from ``w = 0``. The iterate is
    computed in closed form from one thin SVD, ``w = V diag(F / s) U^T y`` with
    ``F = 1 - (1 - eta lam)^t`` (:func:`gd_filter`), so it equals the simulated iterate to
    rounding, at any number of steps, and the whole path costs no further factorization
    (:meth:`coef_path`).

    Parameters
    ----------
    n_steps : int, default=100
        Number of gradient steps (``0`` gives ``w = 0``).
    learning_rate : float, optional
        Step ``eta``; ``eta * lam_max < 2`` is required. ``None`` (default) uses
        ``1 / lam_max``, the largest step with monotone progress along every direction.
    fit_intercept : bool, default=False
        If True, ``X`` and ``y`` are centred first (gradient descent on the centred problem) and
        ``intercept_ = mean(y) - mean(X) @ coef_``. False matches THEORY.md 2.1 exactly.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    learning_rate_ : float
        The step used.
    singular_values_ : ndarray
        Nonzero singular values of the (centred) training design.
    n_features_in_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((20, 50)), rng.standard_normal(20)
    >>> model = GradientDescentRegressor(n_steps=30, learning_rate=0.01).fit(X, y)
    >>> bool(np.allclose(model.coef_, simulate_gd(X, y, 30, 0.01)))
    True
    """

    _parameter_constraints = {
        "n_steps": [Interval(Integral, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "fit_intercept": ["boolean"],
    }

    def __init__(self, n_steps: int = 100, learning_rate: float | None = None, fit_intercept=False):
        self.n_steps = n_steps
        self.learning_rate = learning_rate
        self.fit_intercept = fit_intercept

    def fit(self, X, y):
        """Fit by the closed form of ``n_steps`` gradient steps from zero.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        self._validate_params()
        check_numeric_y(y, type(self).__name__)
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        if self.fit_intercept:
            self._x_offset, self._y_offset = X.mean(axis=0), float(y.mean())
        else:
            self._x_offset, self._y_offset = np.zeros(X.shape[1]), 0.0
        dec = SpectralDecomposition.of(X - self._x_offset)
        lam = dec.eigenvalues
        top = float(lam[0]) if lam.size else 0.0
        if self.learning_rate is None:
            eta = 1.0 / top if top > 0 else 1.0
        else:
            eta = float(self.learning_rate)
            if eta * top >= 2.0:
                raise ValueError(
                    f"learning_rate={eta!r} times the largest eigenvalue of X^T X ({top:.6g}) "
                    "must be < 2, or gradient descent diverges."
                )
        self.learning_rate_ = eta
        self.singular_values_ = dec.singular_values
        self._decomposition = dec
        self._coef_y = (dec.left.T @ (y - self._y_offset)) / dec.singular_values
        self.coef_ = self._coef_at(self.n_steps)
        self.intercept_ = self._y_offset - float(self._x_offset @ self.coef_)
        return self

    def _coef_at(self, steps) -> NDArray:
        dec = self._decomposition
        h = gd_filter(dec.eigenvalues, steps, self.learning_rate_)
        return dec.right.T @ (h * self._coef_y)

    def coef_path(self, steps: ArrayLike) -> NDArray:
        """Weights after each number of steps in ``steps``, from the stored SVD.

        Parameters
        ----------
        steps : 1-d array of int
            Step counts ``>= 0``.

        Returns
        -------
        ndarray of shape (len(steps), n_features)
        """
        check_is_fitted(self)
        steps = np.atleast_1d(_times(steps, "steps"))
        lam = self._decomposition.eigenvalues
        h = gd_filter(lam[:, None], steps[None, :], self.learning_rate_)
        return (self._decomposition.right.T @ (h * self._coef_y[:, None])).T

    def predict(self, X):
        """Predictions ``X @ coef_ + intercept_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_ + self.intercept_
