"""Gradient descent and gradient flow for least squares, and distillation through them (NAG-1..5).

Setting (CLAIMS.md 2.1): squared loss ``L(w) = (1/2) ||X w - y||^2`` with the thin SVD
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

from kdtheory._filters import (
    _generation_times,
    _times,
    distill_filter,
    gd_filter,
    log_distill_filter,
    log_gd_filter,
    matched_progress_time,
    switch_filter,
)
from kdtheory._validation import check_numeric_y, validate_params

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
    """Training predictions ``X w(t) = U diag(F(t)) U^T y = A(t) y`` (CLAIMS.md 2.1)."""
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
    ndarray of shape (p,) or (n_steps + 1, p)
        The weights after ``n_steps`` steps, or every iterate with ``return_path=True``.
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
    list of estimators
        The fitted generations, generation 0 first.
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
        ``intercept_ = mean(y) - mean(X) @ coef_``. False matches CLAIMS.md 2.1 exactly.

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
        validate_params(self)
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
