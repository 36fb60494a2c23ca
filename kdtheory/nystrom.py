"""Nystrom kernel ridge solved by preconditioned conjugate gradients (the FALKON solver).

Kernel ridge restricted to the span of ``M`` centers ``C`` drawn from the training points
(Nystrom; Rudi, Camoriano and Rosasco 2015: about ``sqrt(n) log n`` centers keep the optimal
rate) minimizes ``||K_nM a - y||^2 + alpha a^T K_MM a``, i.e. solves

    ``(K_nM^T K_nM + alpha K_MM) a = K_nM^T y``          (scikit-learn's ``alpha = n lam``).

FALKON (Rudi, Carratino and Rosasco 2017) solves it by conjugate gradients preconditioned with
``B = T^{-1} A^{-1} / sqrt(n)``, ``T^T T = K_MM`` and ``A^T A = T T^T / M + lam I`` (Cholesky
factors), so that ``B^T H B`` is close to the identity and a few tens of iterations suffice.
``K_nM`` is never formed: each product ``K_nM^T K_nM v`` runs over chunks of ``chunk_size``
rows, so memory is ``O(M^2 + chunk_size M)``, linear in ``n`` only through the data itself.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import pairwise_kernels
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["NystromKernelRidge", "default_n_centers"]


def default_n_centers(n: int) -> int:
    """``ceil(sqrt(n) log n)`` centers, at most ``n`` (the rate-preserving choice)."""
    return int(min(n, max(1, np.ceil(np.sqrt(n) * np.log(max(n, 2))))))


class NystromKernelRidge(RegressorMixin, BaseEstimator):
    """Kernel ridge on ``n_centers`` Nystrom centers, fitted by FALKON's preconditioned CG.

    Parameters
    ----------
    kernel : kernel object or str, default=None
        A kernel object called as ``kernel(A, B)`` (for example :func:`kdtheory.kernels.laplace`
        or :class:`~kdtheory.kernels.SobolevMin`), or a metric name of
        :func:`sklearn.metrics.pairwise.pairwise_kernels`; None: ``"rbf"`` with
        scikit-learn's default ``gamma = 1 / n_features``.
    n_centers : int, default=None
        Number of centers ``M``, drawn without replacement from the training points; None:
        :func:`default_n_centers`. Must satisfy ``1 <= M <= n``.
    alpha : float, default=1.0
        Ridge ``> 0`` in scikit-learn's convention (``n lam``).
    max_iter : int, default=200
        Conjugate-gradient iterations at most.
    tol : float, default=1e-10
        Relative residual at which CG stops.
    chunk_size : int, default=8192
        Rows of ``K_nM`` formed at a time.
    random_state : int, Generator or None, default=None
        Draws the centers.

    Attributes
    ----------
    centers_ : ndarray of shape (M, d)
    dual_coef_ : ndarray of shape (M,)
    n_iter_ : int
        CG iterations run.
    n_features_in_ : int
    """

    def __init__(
        self,
        kernel=None,
        n_centers=None,
        alpha=1.0,
        *,
        max_iter=200,
        tol=1e-10,
        chunk_size=8192,
        random_state=None,
    ):
        self.kernel = kernel
        self.n_centers = n_centers
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.chunk_size = chunk_size
        self.random_state = random_state

    def _gram(self, A, B):
        kernel = "rbf" if self.kernel is None else self.kernel
        if isinstance(kernel, str):
            return pairwise_kernels(A, B, metric=kernel)
        return np.asarray(kernel(A, B), dtype=np.float64)

    def _check_params(self, n: int) -> int:
        if not isinstance(self.alpha, Real) or not (np.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"alpha must be a finite number > 0, got {self.alpha!r}.")
        for name in ("max_iter", "chunk_size"):
            value = getattr(self, name)
            if not isinstance(value, Integral) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
        if not isinstance(self.tol, Real) or not self.tol > 0:
            raise ValueError(f"tol must be a number > 0, got {self.tol!r}.")
        if self.n_centers is None:
            return default_n_centers(n)
        if not isinstance(self.n_centers, Integral) or not 1 <= self.n_centers <= n:
            raise ValueError(
                f"n_centers must be an integer between 1 and the number of samples ({n}), got "
                f"{self.n_centers!r}."
            )
        return int(self.n_centers)

    def fit(self, X, y):
        """Draw the centers and solve the Nystrom system by preconditioned CG.

        Parameters
        ----------
        X : array-like of shape (n, d)
        y : array-like of shape (n,)

        Returns
        -------
        NystromKernelRidge
            ``self``.
        """
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        n = X.shape[0]
        M = self._check_params(n)
        rng = check_random_state(self.random_state)
        C = X[np.sort(rng.choice(n, size=M, replace=False))]
        lam = float(self.alpha) / n
        K_MM = self._gram(C, C)
        eps = np.finfo(np.float64).eps
        jitter = eps * M * max(1.0, float(np.trace(K_MM)) / M)
        T = scipy.linalg.cholesky(K_MM + jitter * np.eye(M), lower=False)
        A = scipy.linalg.cholesky(T @ T.T / M + lam * np.eye(M), lower=False)
        tri = scipy.linalg.solve_triangular
        scale = 1.0 / np.sqrt(n)

        def precondition(v):  # B v = T^{-1} A^{-1} v / sqrt(n)
            return tri(T, tri(A, v)) * scale

        def precondition_t(v):  # B^T v = A^{-T} T^{-T} v / sqrt(n)
            return tri(A, tri(T, v, trans="T"), trans="T") * scale

        chunks = [slice(i, min(n, i + self.chunk_size)) for i in range(0, n, self.chunk_size)]

        def normal(v):  # (K_nM^T K_nM + alpha K_MM) v, K_nM in chunks of rows
            out = float(self.alpha) * (K_MM @ v)
            for rows in chunks:
                K = self._gram(X[rows], C)
                out += K.T @ (K @ v)
            return out

        rhs = np.zeros(M)
        for rows in chunks:
            rhs += self._gram(X[rows], C).T @ y[rows]
        op = scipy.sparse.linalg.LinearOperator(
            (M, M), matvec=lambda b: precondition_t(normal(precondition(b))), dtype=np.float64
        )
        iterations = [0]

        def count(_):
            iterations[0] += 1

        beta, info = scipy.sparse.linalg.cg(
            op, precondition_t(rhs), rtol=self.tol, maxiter=self.max_iter, callback=count
        )
        if info > 0:
            warnings.warn(
                f"FALKON's conjugate gradients did not reach tol={self.tol:g} in "
                f"{self.max_iter} iterations; raise max_iter.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.centers_ = C
        self.dual_coef_ = precondition(beta)
        self.n_iter_ = iterations[0]
        return self

    def predict(self, X):
        """``sum_j a_j k(x, c_j)``, in chunks of rows.

        Parameters
        ----------
        X : array-like of shape (m, d)

        Returns
        -------
        ndarray of shape (m,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return np.concatenate(
            [
                self._gram(X[i : i + self.chunk_size], self.centers_) @ self.dual_coef_
                for i in range(0, X.shape[0], self.chunk_size)
            ]
            or [np.empty(0)]
        )
