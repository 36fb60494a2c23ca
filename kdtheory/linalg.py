"""Factor-once linear algebra: eigendecomposition and Cholesky caches, ridge filters, exact risks.

One factorization of a kernel matrix serves a whole path of regularization values: with
``K = V diag(d) V^T``, ``(K + a I)^{-1} = V diag(1 / (d + a)) V^T`` for every ``a``. A path of
linear smoothers ``A_l = B diag(h_l) P`` (``B``: N x r, ``P``: r x n, one filter ``h_l`` per
path value) then has closed-form expected risk over the noise (CLAIMS.md, "How a claim is
checked"):

``E ||A f + A w - f_eval||_W^2 = ||A f - f_eval||_W^2 + sigma^2 ||W^{1/2} A||_F^2``,

and ``||W^{1/2} B diag(h) P||_F^2 = h^T [(B^T W B) o (P P^T)] h`` costs ``O(r^2)`` per value once
the two Gram products are formed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "SymmetricEigen",
    "CholeskyFactor",
    "is_symmetric",
    "ridge_filter",
    "inverse_filter",
    "SpectralPath",
    "DensePath",
    "linear_smoother_risk",
]


def _ridges(ridge: ArrayLike, name: str = "ridge values") -> NDArray:
    """A path of ridges as a 1-d float array; NaN, infinite, negative or non-numeric values
    are a ValueError (every solver path checks its ridges here)."""
    try:
        r = np.atleast_1d(np.asarray(ridge, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be finite and >= 0, got {ridge!r}.") from None
    flags = any(isinstance(v, bool | np.bool_) for v in np.ravel(np.asarray(ridge, dtype=object)))
    if flags or r.ndim != 1 or np.any(~np.isfinite(r)) or np.any(r < 0):
        raise ValueError(f"{name} must be finite and >= 0, got {ridge!r}.")
    return r


def check_ridge(ridge, name: str = "ridge") -> float:
    """One ridge as a float: finite and ``>= 0`` (:func:`_ridges`), a scalar."""
    r = _ridges(ridge, name)
    if np.ndim(ridge) != 0:
        raise ValueError(f"{name} must be one number, got {ridge!r}.")
    return float(r[0])


@dataclass(frozen=True)
class SymmetricEigen:
    """Eigendecomposition ``K = V diag(values) V^T`` of a symmetric matrix, computed once.

    Attributes
    ----------
    values : ndarray of shape (r,)
        Eigenvalues in ascending order (tiny negative values from rounding are kept as they are;
        :func:`inverse_filter` treats them as zero).
    vectors : ndarray of shape (r, r)
        Orthonormal eigenvectors in columns.
    """

    values: NDArray
    vectors: NDArray

    @classmethod
    def of(cls, K: ArrayLike) -> SymmetricEigen:
        """Factor a symmetric matrix (LAPACK ``syevd``, the divide-and-conquer driver)."""
        K = np.asarray(K, dtype=float)
        w, V = scipy.linalg.eigh(K, driver="evd", check_finite=False)
        return cls(values=w, vectors=V)

    def solve(self, b: ArrayLike, ridge: float) -> NDArray:
        """``(K + ridge I)^+ b`` (pseudo-inverse where ``values + ridge`` is numerically zero)."""
        h = inverse_filter(self.values, ridge)[:, 0]
        b = np.asarray(b, dtype=float)
        coef = self.vectors.T @ b
        return self.vectors @ (h.reshape((-1,) + (1,) * (coef.ndim - 1)) * coef)


SINGULAR_MESSAGE = (
    "K + ridge I is singular (ridge = {ridge:g}): using the least-squares solution instead, as "
    "scikit-learn's KernelRidge does."
)


@dataclass(frozen=True)
class CholeskyFactor:
    """Cholesky factor of ``K + ridge I``, computed once and reused for every right-hand side.

    A singular ``K + ridge I`` (a zero ridge with repeated points, say) is handled as
    scikit-learn's ``KernelRidge`` handles it: a warning, and least-squares solutions.
    """

    factor: tuple | None = field(repr=False)
    ridge: float
    matrix: NDArray | None = field(default=None, repr=False)

    @classmethod
    def of(cls, K: ArrayLike, ridge: float = 0.0) -> CholeskyFactor:
        K = np.asarray(K, dtype=float)
        ridge = float(_ridges(ridge)[0])
        A = K + ridge * np.eye(K.shape[0]) if ridge else K
        try:
            factor = scipy.linalg.cho_factor(A, lower=True, check_finite=False)
        except scipy.linalg.LinAlgError:
            warnings.warn(SINGULAR_MESSAGE.format(ridge=ridge), UserWarning, stacklevel=2)
            return cls(factor=None, ridge=ridge, matrix=A)
        return cls(factor=factor, ridge=ridge)

    @property
    def singular(self) -> bool:
        """Whether ``K + ridge I`` was singular (solutions are least-squares ones)."""
        return self.factor is None

    def solve(self, b: ArrayLike) -> NDArray:
        """``(K + ridge I)^{-1} b`` (the least-squares solution when singular)."""
        b = np.asarray(b, dtype=float)
        if self.factor is None:
            return scipy.linalg.lstsq(self.matrix, b, check_finite=False)[0]
        return scipy.linalg.cho_solve(self.factor, b, check_finite=False)


def is_symmetric(C: ArrayLike, rtol: float | None = None) -> bool:
    """Whether a square matrix equals its transpose up to rounding (default ``1e3 n eps``)."""
    C = np.asarray(C, dtype=float)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        return False
    rtol = 1e3 * C.shape[0] * np.finfo(float).eps if rtol is None else rtol
    scale = max(float(np.max(np.abs(C))) if C.size else 0.0, np.finfo(float).tiny)
    return bool(np.max(np.abs(C - C.T), initial=0.0) <= rtol * scale)


def ridge_filter(values: ArrayLike, ridge: ArrayLike) -> NDArray:
    """Ridge filter ``d / (d + a)``: eigenvalues ``d`` in rows, ridges ``a`` in columns."""
    return np.asarray(values, dtype=float)[:, None] * inverse_filter(values, ridge)


def inverse_filter(values: ArrayLike, ridge: ArrayLike, rcond: float | None = None) -> NDArray:
    """``1 / (d + a)`` for eigenvalues ``d`` (rows) and ridges ``a`` (columns), as a pseudo-inverse.

    Entries where ``d + a <= rcond * max|d|`` are set to 0 (default ``rcond = r * eps``, as
    ``numpy.linalg.pinv``), so ``a = 0`` on a singular matrix gives the minimum-norm solution.
    """
    d = np.asarray(values, dtype=float)
    a = _ridges(ridge)
    if rcond is None:
        rcond = d.size * np.finfo(float).eps
    scale = max(float(np.max(np.abs(d))) if d.size else 0.0, np.finfo(float).tiny)
    denom = d[:, None] + a[None, :]
    ok = denom > rcond * scale
    return np.divide(1.0, denom, out=np.zeros_like(denom), where=ok)


class _PathRisks:
    """:meth:`risks`, shared by the paths: the risks of several regression functions."""

    def risks(self, F_in: ArrayLike, F_eval: ArrayLike, noise_sd: float) -> list[dict]:
        """:meth:`risk` for each column of ``F_in`` (``f*`` at the inputs, shape ``(n, k)``)
        and ``F_eval`` (at the evaluation points, ``(N, k)``): a list of ``k`` dicts."""
        F_in, F_eval = np.asarray(F_in, dtype=float), np.asarray(F_eval, dtype=float)
        return [self.risk(F_in[:, j], F_eval[:, j], noise_sd) for j in range(F_in.shape[1])]

    def squared_frobenius(self) -> NDArray:
        """``||W^{1/2} A_l||_F^2`` for every path value, shape ``(L,)``: each path's
        ``_squared_frobenius``, computed once."""
        return self._squared_frobenius

    def _pointwise_risk(self, f_in, f_eval, noise_sd: float) -> dict[str, NDArray]:
        """``risk`` of a path with ``predict``, weights ``_w()`` and ``squared_frobenius``:
        ``bias = sum_i w_i (A f_in - f_eval)_i^2``, ``variance = sigma^2 ||W^{1/2} A||_F^2``."""
        err = self.predict(f_in) - np.asarray(f_eval, dtype=float)[:, None]
        bias = self._w() @ err**2
        variance = float(noise_sd) ** 2 * self.squared_frobenius()
        return {"bias": bias, "variance": variance, "risk": bias + variance}


@dataclass(frozen=True)
class SpectralPath(_PathRisks):
    """A path of linear smoothers ``A_l = B diag(filters[:, l]) P`` sharing one factorization.

    Parameters
    ----------
    left : ndarray of shape (N, r)
        ``B``: maps spectral coefficients to predictions at the ``N`` evaluation points.
    right : ndarray of shape (r, n)
        ``P``: maps the ``n`` responses to spectral coefficients.
    filters : ndarray of shape (r, L)
        One filter per path value.
    weights : ndarray of shape (N,), optional
        Quadrature weights of the evaluation points for the ``L2(Q)`` norm; default ``1/N`` each.
    orthonormal_rows : bool, default=False
        Whether ``P P^T = I`` (``P`` is the transpose of an orthonormal eigenbasis), which saves
        the ``r x n x r`` product in :meth:`squared_frobenius`.
    """

    left: NDArray
    right: NDArray
    filters: NDArray
    weights: NDArray | None = None
    orthonormal_rows: bool = False

    def _w(self) -> NDArray:
        N = self.left.shape[0]
        return np.full(N, 1.0 / N) if self.weights is None else np.asarray(self.weights, float)

    def predict(self, z: ArrayLike) -> NDArray:
        """Predictions ``A_l z`` at the evaluation points, shape ``(N, L)``."""
        coef = self.right @ np.asarray(z, dtype=float)
        return self.left @ (self.filters * coef[:, None])

    @cached_property
    def _squared_frobenius(self) -> NDArray:
        Bw = self._w()[:, None] * self.left
        if self.orthonormal_rows:  # Q is diagonal: diag(B^T W B)
            return np.sum(self.left * Bw, axis=0) @ self.filters**2
        Q = (self.left.T @ Bw) * (self.right @ self.right.T)
        return np.sum(self.filters * (Q @ self.filters), axis=0)

    def risk(self, f_in: ArrayLike, f_eval: ArrayLike, noise_sd: float) -> dict[str, NDArray]:
        """Exact expected risk over the noise for every path value.

        Parameters
        ----------
        f_in : array of shape (n,)
            ``f*`` at the points whose responses the smoother takes.
        f_eval : array of shape (N,)
            ``f*`` at the evaluation points.
        noise_sd : float
            ``sigma``, the noise standard deviation (homoscedastic).

        Returns
        -------
        dict
            Arrays ``bias``, ``variance`` and ``risk``, each of shape ``(L,)``.
        """
        return self._pointwise_risk(f_in, f_eval, noise_sd)


@dataclass(frozen=True)
class DensePath(_PathRisks):
    """A path of linear smoothers given one matrix at a time, ``A_l = matrix(l)`` (N x n).

    The fallback of :class:`SpectralPath` when no shared factorization diagonalizes the path
    (for example RaT with different teacher and student kernels). Same interface.
    """

    matrix: Callable[[int], NDArray]
    n_values: int
    weights: NDArray | None = None

    def predict(self, z: ArrayLike) -> NDArray:
        z = np.asarray(z, dtype=float)
        return np.column_stack([self.matrix(i) @ z for i in range(self.n_values)])

    def risk(self, f_in: ArrayLike, f_eval: ArrayLike, noise_sd: float) -> dict[str, NDArray]:
        return self.risks(np.reshape(f_in, (-1, 1)), np.reshape(f_eval, (-1, 1)), noise_sd)[0]

    def risks(self, F_in: ArrayLike, F_eval: ArrayLike, noise_sd: float) -> list[dict]:
        """:meth:`risk` for each column of ``F_in`` and ``F_eval``, one matrix per path value."""
        F_in, F_eval = np.asarray(F_in, dtype=float), np.asarray(F_eval, dtype=float)
        rows = []
        for i in range(self.n_values):
            A = self.matrix(i)
            rows.append(
                [
                    linear_smoother_risk(A, F_in[:, j], F_eval[:, j], noise_sd, self.weights)
                    for j in range(F_in.shape[1])
                ]
            )
        keys = ("bias", "variance", "risk")
        return [
            {key: np.array([r[j][key] for r in rows]) for key in keys} for j in range(F_in.shape[1])
        ]


def linear_smoother_risk(
    A: ArrayLike,
    f_in: ArrayLike,
    f_eval: ArrayLike,
    noise_sd: float,
    weights: ArrayLike | None = None,
) -> dict[str, float]:
    """Exact expected risk of the linear smoother ``f_hat(X_eval) = A y``, ``y = f_in + noise``.

    ``risk = sum_i w_i ((A f_in)_i - f_eval_i)^2 + sigma^2 sum_i w_i ||A_i||^2``; with equal
    weights ``1/N`` this is CLAIMS.md's ``||A f*(X) - f*(X_eval)||^2 / N + sigma^2 ||A||_F^2 / N``.
    """
    A = np.asarray(A, dtype=float)
    N = A.shape[0]
    w = np.full(N, 1.0 / N) if weights is None else np.asarray(weights, dtype=float)
    bias = float(w @ (A @ np.asarray(f_in, dtype=float) - np.asarray(f_eval, dtype=float)) ** 2)
    variance = float(noise_sd) ** 2 * float(w @ np.sum(A * A, axis=1))
    return {"bias": bias, "variance": variance, "risk": bias + variance}
