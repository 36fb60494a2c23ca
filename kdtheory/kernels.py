"""Kernels with known spectra, usable directly by :class:`sklearn.kernel_ridge.KernelRidge`.

The kernels are :class:`sklearn.gaussian_process.kernels.Kernel` objects, so
``KernelRidge(kernel=SobolevMin())`` evaluates their Gram matrices in one vectorized call
(scikit-learn's ``pairwise_kernels`` dispatches on kernel objects), and ``clone`` and
``get_params`` work as for any scikit-learn kernel.

Each kernel comes with its Mercer spectrum with respect to the uniform distribution on
``[0, 1]`` (eigenvalues ``mu_k`` and orthonormal eigenfunctions ``phi_k``), the quantities the
sequence model of CLAIMS.md 1.3 is written in.

- ``SobolevMin``: ``min(x, x')``; eigenvalues ``((k - 1/2) pi)^-2``, ``k >= 1``.
- ``PeriodicSobolev(order=s)``: ``1 + sum_k 2 cos(2 pi k (x - x')) / (2 pi k)^(2s)``; eigenvalues
  ``1`` (``k = 0``) and ``(2 pi k)^-2s`` twice (cos, sin), ``k >= 1``.
- ``FiniteRankSobolev(rank=r)``: the first ``r`` Mercer terms of ``SobolevMin``; zero past ``r``.
- ``laplace(l)``: ``exp(-|x - x'| / l)`` (Matern 1/2); eigen-decay ``k^-2`` in one dimension.
- ``gaussian(l)``: ``exp(-|x - x'|^2 / (2 l^2))``; eigen-decay faster than any power.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.gaussian_process.kernels import RBF, Kernel, Matern

__all__ = [
    "SobolevMin",
    "PeriodicSobolev",
    "FiniteRankSobolev",
    "laplace",
    "gaussian",
    "sobolev_min_eigenvalues",
    "sobolev_min_eigenfunctions",
    "periodic_sobolev_eigenvalues",
    "fourier_basis",
]


def _as_2d(X: ArrayLike) -> NDArray[np.float64]:
    X = np.asarray(X, dtype=float)
    return X.reshape(-1, 1) if X.ndim == 1 else X


class _FixedKernel(Kernel):
    """A kernel without tunable hyperparameters (nothing for ``eval_gradient`` to return)."""

    def _gradient(self, X: NDArray) -> NDArray:
        return np.empty((X.shape[0], X.shape[0], 0))

    def __call__(self, X, Y=None, eval_gradient=False):
        X = _as_2d(X)
        if eval_gradient and Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        K = self._gram(X, X if Y is None else _as_2d(Y))
        return (K, self._gradient(X)) if eval_gradient else K

    def diag(self, X):
        X = _as_2d(X)
        return np.array([self._gram(x[None, :], x[None, :])[0, 0] for x in X])

    def _check_1d(self, X: NDArray) -> None:
        if X.shape[1] != 1:
            raise ValueError(
                f"{type(self).__name__} is defined on one-dimensional inputs; got X with "
                f"{X.shape[1]} features."
            )

    def _gram(self, X: NDArray, Y: NDArray) -> NDArray:  # pragma: no cover - abstract
        raise NotImplementedError


class SobolevMin(_FixedKernel):
    """First-order Sobolev kernel ``k(x, x') = min(x, x')`` on ``[0, 1]``.

    Domain: ``min(x, x')`` is a kernel (positive semi-definite) on ``[0, inf)`` only; with a
    negative point it is not (``x = -1``: ``k(x, x) = -1``). A Gram matrix of one set of points
    (``K(X, X)``, what a fit factors) with a negative point is a ``ValueError``; evaluating
    ``K(X_eval, X)`` at negative ``X_eval`` is allowed and gives the functions' linear extension
    ``f(x) = x sum_i c_i`` below 0.

    Its RKHS is ``{f : f(0) = 0, f' in L2}`` with ``||f||_H = ||f'||_{L2}``. On ``U[0, 1]`` its
    Mercer eigenvalues are ``mu_k = ((k - 1/2) pi)^-2`` with eigenfunctions
    ``phi_k(x) = sqrt(2) sin((k - 1/2) pi x)``, ``k = 1, 2, ...`` (eigen-decay ``k^{-2a}`` with
    ``a = 1``, minimax exponent ``-2/3``; CLAIMS.md 1.3, claim RAT-2).
    """

    def __init__(self):
        pass

    def is_stationary(self) -> bool:
        return False

    def _gram(self, X: NDArray, Y: NDArray) -> NDArray:
        self._check_1d(X)
        self._check_1d(Y)
        if (Y is X or np.array_equal(X, Y)) and X.size and X.min() < 0:
            self._negative(X)
        return np.minimum(X[:, 0][:, None], Y[:, 0][None, :])

    @staticmethod
    def _negative(X: NDArray):
        raise ValueError(
            f"SobolevMin, min(x, x'), is a kernel on [0, inf) only; the points hold "
            f"{float(X.min())!r} < 0 (shift or rescale them into [0, inf))."
        )

    def diag(self, X):
        X = _as_2d(X)
        if X.size and X.min() < 0:
            self._negative(X)
        return X[:, 0].copy()

    def eigenvalues(self, k: ArrayLike) -> NDArray:
        """Mercer eigenvalues ``mu_k`` on ``U[0, 1]`` for indices ``k >= 1``."""
        return sobolev_min_eigenvalues(k)

    def eigenfunctions(self, x: ArrayLike, k: ArrayLike) -> NDArray:
        """Matrix ``phi_k(x_i)`` (rows: points, columns: indices ``k >= 1``)."""
        return sobolev_min_eigenfunctions(x, k)


class FiniteRankSobolev(_FixedKernel):
    """The first ``rank`` Mercer terms of :class:`SobolevMin`: ``sum_{k<=rank} mu_k phi_k phi_k``.

    A teacher with this kernel is blind to every direction ``phi_k``, ``k > rank``: its shrinkage
    factors are ``s_k = 0`` there. Used for claim RAT-5 (RaT removes shrinkage bias, not blindness).

    Parameters
    ----------
    rank : int
        Number of Mercer terms kept (>= 1).
    """

    def __init__(self, rank: int = 10):
        self.rank = rank

    def is_stationary(self) -> bool:
        return False

    def features(self, X: ArrayLike) -> NDArray:
        """``Phi(X)``, shape ``(n, rank)``: ``sqrt(mu_k) phi_k(x)``, so ``K(A, B) = Phi(A)
        Phi(B)^T`` (the factor :func:`kdtheory.lowrank.low_rank_paths` takes); the columns of a
        lower rank are the first columns of a higher one."""
        return self._features(_as_2d(X))

    def _features(self, X: NDArray) -> NDArray:
        self._check_1d(X)
        if int(self.rank) < 1:
            raise ValueError(f"rank must be >= 1, got {self.rank!r}.")
        k = np.arange(1, int(self.rank) + 1)
        return sobolev_min_eigenfunctions(X[:, 0], k) * np.sqrt(sobolev_min_eigenvalues(k))

    def _gram(self, X: NDArray, Y: NDArray) -> NDArray:
        return self._features(X) @ self._features(Y).T

    def diag(self, X):
        return np.sum(self._features(_as_2d(X)) ** 2, axis=1)


def _bernoulli_poly(order: int, t: NDArray) -> NDArray:
    if order == 2:
        return t * t - t + 1.0 / 6.0
    if order == 4:
        return t**4 - 2 * t**3 + t**2 - 1.0 / 30.0
    raise ValueError("order must be 1 or 2 (Bernoulli polynomials B_2, B_4).")


class PeriodicSobolev(_FixedKernel):
    """Periodic Sobolev kernel of order ``s`` on the circle ``[0, 1)``.

    ``k(x, x') = 1 + sum_{k>=1} 2 cos(2 pi k (x - x')) / (2 pi k)^{2s}
    = 1 + (-1)^{s+1} B_{2s}({x - x'}) / (2s)!`` with ``B_{2s}`` the Bernoulli polynomial.
    On ``U[0, 1)`` the eigenfunctions are the Fourier basis with eigenvalues ``1`` (constant) and
    ``(2 pi k)^{-2s}`` (for ``sqrt(2) cos`` and ``sqrt(2) sin``). On an equispaced grid the Gram
    matrix is circulant, so the sequence-model formulas of CLAIMS.md 1.3 are exact (RAT-1).

    Parameters
    ----------
    order : {1, 2}
        Smoothness ``s``; eigen-decay ``k^{-2s}``.
    """

    def __init__(self, order: int = 1):
        self.order = order

    def is_stationary(self) -> bool:
        return True

    def _gram(self, X: NDArray, Y: NDArray) -> NDArray:
        self._check_1d(X)
        self._check_1d(Y)
        s = int(self.order)
        t = np.mod(X[:, 0][:, None] - Y[:, 0][None, :], 1.0)
        sign = 1.0 if s % 2 == 1 else -1.0
        return 1.0 + sign * _bernoulli_poly(2 * s, t) / float(np.prod(np.arange(1, 2 * s + 1)))

    def diag(self, X):
        return np.full(_as_2d(X).shape[0], self._gram(np.zeros((1, 1)), np.zeros((1, 1)))[0, 0])

    def eigenvalues(self, k: ArrayLike) -> NDArray:
        """Eigenvalue of frequency ``k >= 0`` (each ``k >= 1`` has multiplicity two)."""
        return periodic_sobolev_eigenvalues(k, int(self.order))


def sobolev_min_eigenvalues(k: ArrayLike) -> NDArray:
    """``mu_k = ((k - 1/2) pi)^-2``, ``k >= 1``: Mercer eigenvalues of ``min(x, x')`` on U[0, 1]."""
    k = np.asarray(k, dtype=float)
    if np.any(k < 1):
        raise ValueError("Sobolev-min eigenvalues are indexed from k = 1.")
    return 1.0 / ((k - 0.5) * np.pi) ** 2


def sobolev_min_eigenfunctions(x: ArrayLike, k: ArrayLike) -> NDArray:
    """``phi_k(x) = sqrt(2) sin((k - 1/2) pi x)``; returns shape ``(len(x), len(k))``."""
    x = np.asarray(x, dtype=float).reshape(-1)
    k = np.asarray(k, dtype=float).reshape(-1)
    return np.sqrt(2.0) * np.sin(np.outer(x, (k - 0.5) * np.pi))


def periodic_sobolev_eigenvalues(k: ArrayLike, order: int = 1) -> NDArray:
    """``1`` for ``k = 0`` and ``(2 pi k)^{-2 order}`` for ``k >= 1``."""
    k = np.asarray(k, dtype=float)
    if np.any(k < 0):
        raise ValueError("frequencies must be >= 0.")
    with np.errstate(divide="ignore"):
        out = (2.0 * np.pi * k) ** (-2.0 * order)
    return np.where(k == 0, 1.0, out)


def fourier_basis(x: ArrayLike, n_freq: int) -> NDArray:
    """Orthonormal Fourier basis on ``U[0, 1)``: columns ``1, sqrt2 cos(2 pi k x), sqrt2 sin(...)``.

    Column ``2k - 1`` is the cosine and ``2k`` the sine of frequency ``k = 1..n_freq``.
    """
    x = np.asarray(x, dtype=float).reshape(-1)
    k = np.arange(1, n_freq + 1)
    arg = 2.0 * np.pi * np.outer(x, k)
    out = np.empty((x.size, 2 * n_freq + 1))
    out[:, 0] = 1.0
    out[:, 1::2] = np.sqrt(2.0) * np.cos(arg)
    out[:, 2::2] = np.sqrt(2.0) * np.sin(arg)
    return out


def laplace(length_scale: float = 0.2) -> Kernel:
    """Laplace kernel ``exp(-||x - x'|| / length_scale)`` (Matern with ``nu = 1/2``).

    In one dimension its RKHS is the first-order Sobolev space and its eigenvalues decay like
    ``k^{-2}``, the same rate as :class:`SobolevMin`.
    """
    return Matern(length_scale=length_scale, length_scale_bounds="fixed", nu=0.5)


def gaussian(length_scale: float = 0.2) -> Kernel:
    """Gaussian kernel ``exp(-||x - x'||^2 / (2 length_scale^2))``.

    Its eigenvalues decay faster than any power of ``k``; for a Gaussian input distribution with
    variance ``v`` they are ``sqrt(2a/A) B^k`` with ``a = 1/(4v)``, ``b = 1/(2 l^2)``,
    ``A = a + b + sqrt(a^2 + 2ab)``, ``B = b / A`` (Rasmussen and Williams, 2006, section 4.3.1).
    """
    return RBF(length_scale=length_scale, length_scale_bounds="fixed")
