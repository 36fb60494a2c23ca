"""Closed forms of soft matching (SM) and Residual-as-Teacher (RaT) for kernel ridge pairs.

The mathematics under :mod:`kdtheory.student_teacher` (its module docstring states the
conventions, CLAIMS.md 1.1-1.2): the teacher operator ``G``, the RaT fixed point, the SM/RaT
path over student ridges from one factorization, the Picard iteration matrix and its rate
(claim RAT-3), and the Picard iteration on kernel matrices. Everything here is a pure function of
arrays; the public names are re-exported by :mod:`kdtheory.student_teacher`.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics.pairwise import pairwise_kernels

from kdtheory.linalg import CholeskyFactor, SymmetricEigen, inverse_filter, is_symmetric

__all__ = [
    "kernel_matrix",
    "teacher_operator",
    "rat_fixed_point",
    "sm_rat_path",
    "rat_picard_kernel",
    "picard_iteration_matrix",
    "picard_rate",
    "EXPLODED",
    "PicardDivergenceError",
]


# ----------------------------------------------------------------------------- pure functions
def kernel_matrix(estimator: KernelRidge, X: ArrayLike, Y: ArrayLike) -> NDArray:
    """Gram matrix ``K(X, Y)`` of a :class:`~sklearn.kernel_ridge.KernelRidge`'s kernel.

    Evaluates exactly what ``KernelRidge`` uses (string kernels with ``gamma``, ``degree``,
    ``coef0``; callables and kernel objects with ``kernel_params``).
    """
    if callable(estimator.kernel):
        params = estimator.kernel_params or {}
    else:
        params = {"gamma": estimator.gamma, "degree": estimator.degree, "coef0": estimator.coef0}
    return pairwise_kernels(X, Y, metric=estimator.kernel, filter_params=True, **params)


def teacher_operator(
    teacher_gram: ArrayLike, teacher_cross: ArrayLike, teacher_ridge: float
) -> NDArray:
    """``G = K_T(Xt, X) (K_T(X, X) + a_T I)^{-1}``: the teacher's map from source responses to
    target predictions (m x n), by one Cholesky factorization (CLAIMS.md 1.2).

    Parameters
    ----------
    teacher_gram : array of shape (n, n)
        ``K_T(X, X)``.
    teacher_cross : array of shape (m, n)
        ``K_T(Xt, X)``.
    teacher_ridge : float
        ``a_T >= 0`` (scikit-learn ``alpha``; ``n lam_T`` in CLAIMS.md).
    """
    chol = CholeskyFactor.of(teacher_gram, teacher_ridge)
    return chol.solve(np.asarray(teacher_cross, dtype=float).T).T


def rat_fixed_point(
    y: ArrayLike,
    *,
    teacher_gram: ArrayLike,
    teacher_cross: ArrayLike,
    student_cross: ArrayLike,
    teacher_ridge: float,
    student_ridge: float | ArrayLike,
) -> NDArray:
    """Dual coefficients of the RaT fixed point for kernel ridge pairs (claims RAT-2, RAT-3).

    Solves ``(a_S I + G K_st) alpha = G y`` with ``G`` from :func:`teacher_operator`. The
    student is ``f(x) = K_S(x, Xt) alpha``. The fixed point does not depend on the Picard step
    and is linear in ``y``.

    Parameters
    ----------
    y : array of shape (n,)
        Source responses.
    teacher_gram : array of shape (n, n)
        ``K_T(X, X)``.
    teacher_cross : array of shape (m, n)
        ``K_T(Xt, X)``.
    student_cross : array of shape (n, m)
        ``K_S(X, Xt)``.
    teacher_ridge, student_ridge : float
        ``a_T, a_S >= 0``. ``student_ridge`` may be a 1-d array (a path): then one
        eigendecomposition of ``G K_st`` serves all values when it is symmetric (equal teacher
        and student kernels), and one LU solve per value otherwise.

    Returns
    -------
    alpha : ndarray of shape (m,) or (m, L)
        Dual coefficients, one column per student ridge for a path of ``L`` ridges.
    """
    C, Gy, symmetric = _coupling(y, teacher_gram, teacher_cross, student_cross, teacher_ridge)
    ridges = np.asarray(student_ridge, dtype=float)
    if ridges.ndim == 0:
        return _solve_shifted(C, Gy, float(ridges))
    return _rat_path(C, Gy, ridges, symmetric)


def _coupling(y, teacher_gram, teacher_cross, student_cross, teacher_ridge):
    """``C = G K_st`` and ``G y``, and whether ``C`` is symmetric by construction.

    With equal kernels (``K_st = K_T(Xt, X)^T``) one Cholesky factor ``L L^T = K_T + a_T I`` and
    ``W = L^{-1} K_st`` give ``C = W^T W`` (exactly symmetric) and ``G y = W^T L^{-1} y``;
    otherwise (or when ``K_T + a_T I`` is singular) ``G`` is formed from the same factor, as in
    :func:`teacher_operator`.
    """
    y = np.asarray(y, dtype=float)
    Kst = np.asarray(student_cross, dtype=float)
    Ktx = np.asarray(teacher_cross, dtype=float)
    chol = CholeskyFactor.of(teacher_gram, teacher_ridge)
    if not chol.singular and Kst.shape == Ktx.T.shape and np.array_equal(Kst, Ktx.T):
        L = chol.factor[0]  # cho_factor(lower=True): L in the lower triangle
        W = scipy.linalg.solve_triangular(L, Kst, lower=True, check_finite=False)
        Ly = scipy.linalg.solve_triangular(L, y, lower=True, check_finite=False)
        return W.T @ W, W.T @ Ly, True
    G = chol.solve(Ktx.T).T
    C = G @ Kst
    return C, G @ y, is_symmetric(C)


def _rat_path(C: NDArray, Gy: NDArray, ridges: NDArray, symmetric: bool) -> NDArray:
    if symmetric:
        eig = SymmetricEigen.of((C + C.T) / 2.0)
        coef = eig.vectors.T @ Gy
        return eig.vectors @ (inverse_filter(eig.values, ridges) * coef[:, None])
    return np.column_stack([_solve_shifted(C, Gy, float(a)) for a in ridges])


def sm_rat_path(
    y: ArrayLike,
    *,
    teacher_gram: ArrayLike,
    teacher_cross: ArrayLike,
    student_gram: ArrayLike,
    student_cross: ArrayLike,
    teacher_ridge: float,
    student_ridges: ArrayLike,
) -> dict[str, NDArray]:
    """Dual coefficients of SM and RaT over a path of student ridges, factor once (RAT-1, RAT-2).

    One factorization of the teacher's ``K_T(X, X) + a_T I`` gives ``G y`` and ``C = G K_st``;
    one eigendecomposition of ``K_S(Xt, Xt)`` serves the SM path
    ``alpha_SM = (K_tt + a_S I)^{-1} G y`` and one of ``C`` (symmetric for equal kernels) the RaT
    path ``alpha_RaT = (a_S I + C)^{-1} G y``. Different kernels: one solve per RaT ridge.

    Parameters
    ----------
    y : array of shape (n,)
    teacher_gram : array of shape (n, n)
        ``K_T(X, X)``.
    teacher_cross : array of shape (m, n)
        ``K_T(Xt, X)``.
    student_gram : array of shape (m, m)
        ``K_S(Xt, Xt)``.
    student_cross : array of shape (n, m)
        ``K_S(X, Xt)``.
    teacher_ridge : float
        ``a_T``.
    student_ridges : array of shape (L,)
        ``a_S`` values.

    Returns
    -------
    dict
        ``"sm"`` and ``"rat"`` -> dual coefficients of shape (m, L); the student's
        predictions are ``K_S(x, Xt) @ alpha``.
    """
    ridges = np.atleast_1d(np.asarray(student_ridges, dtype=float))
    C, Gy, symmetric = _coupling(y, teacher_gram, teacher_cross, student_cross, teacher_ridge)
    eig_tt = SymmetricEigen.of(student_gram)
    U = eig_tt.vectors
    sm = U @ (inverse_filter(eig_tt.values, ridges) * (U.T @ Gy)[:, None])
    return {"sm": sm, "rat": _rat_path(C, Gy, ridges, symmetric)}


def _solve_shifted(C: NDArray, b: NDArray, ridge: float) -> NDArray:
    A = C + ridge * np.eye(C.shape[0])
    try:
        return scipy.linalg.solve(A, b, check_finite=False)
    except scipy.linalg.LinAlgError:
        return scipy.linalg.lstsq(A, b, check_finite=False)[0]


def picard_iteration_matrix(
    *, student_gram: ArrayLike, coupling: ArrayLike, student_ridge: float, step: float = 1.0
) -> NDArray:
    """``M = (K_tt + eta a_S I)^{-1} (K_tt - eta G K_st)``: the Picard map on dual coefficients.

    ``coupling`` is ``C = G K_st`` (m x m).
    """
    K = np.asarray(student_gram, dtype=float)
    chol = CholeskyFactor.of(K, step * student_ridge)
    return chol.solve(K - step * np.asarray(coupling, dtype=float))


def picard_rate(**kwargs) -> float:
    """Spectral radius ``rho(M)`` of :func:`picard_iteration_matrix` (claim RAT-3).

    The iteration converges linearly at this rate when ``rho(M) < 1`` and diverges otherwise.
    """
    M = picard_iteration_matrix(**kwargs)
    return float(np.max(np.abs(scipy.linalg.eigvals(M, check_finite=False))))


def rat_picard_kernel(
    y: ArrayLike,
    *,
    teacher_gram: ArrayLike,
    teacher_cross: ArrayLike,
    student_cross: ArrayLike,
    student_gram: ArrayLike,
    teacher_ridge: float,
    student_ridge: float,
    step: float = 1.0,
    n_iter: int = 1000,
    tol: float = 1e-10,
    alpha0: ArrayLike | None = None,
) -> tuple[NDArray, list[float], bool]:
    """RaT Picard iteration for kernel ridge pairs, factor once (claim RAT-3).

    Each iteration is what refitting does (teacher on the student's source residuals, prediction
    on the targets, student refit with ridge ``eta a_S``), with the teacher operator ``G`` and the
    Cholesky factor of ``K_tt + eta a_S I`` computed once.

    Returns
    -------
    alpha : ndarray of shape (m,)
        Dual coefficients of the last iterate.
    history : list of float
        RMS change of the student's target predictions at each iteration.
    converged : bool
        Whether the change fell to ``tol * max(1, RMS prediction)``; the iteration also stops,
        not converged, when the change is not finite or exceeds ``EXPLODED`` times the scale of
        the first iterate.
    """
    y = np.asarray(y, dtype=float)
    Ktt = np.asarray(student_gram, dtype=float)
    Kst = np.asarray(student_cross, dtype=float)
    G = teacher_operator(teacher_gram, teacher_cross, teacher_ridge)
    chol = CholeskyFactor.of(Ktt, step * student_ridge)
    alpha = np.zeros(Ktt.shape[0]) if alpha0 is None else np.asarray(alpha0, dtype=float).copy()
    f_t = Ktt @ alpha
    history: list[float] = []
    for _ in range(int(n_iter)):
        alpha = chol.solve(f_t + step * (G @ (y - Kst @ alpha)))
        f_new = Ktt @ alpha
        history.append(_rms(f_new - f_t))
        f_t = f_new
        done = _stopped(history[-1], f_t, tol, history[0])
        if done is not None:
            return alpha, history, done
    return alpha, history, False


def _rms(v: NDArray) -> float:
    return float(np.sqrt(np.mean(v**2)))


#: a Picard change this many times the scale of the first iterate means the iteration exploded
EXPLODED = 1e6


class PicardDivergenceError(ValueError):
    """RaT's Picard iteration diverges (``rho(M) >= 1``, or its predictions exploded): there is
    no prediction to return. Lower ``step`` (CLAIMS.md 1.2, claim RAT-3)."""


def _exploded(change: float, scale: float) -> bool:
    """A non-finite change, or one above ``EXPLODED * max(1, scale)``."""
    return not np.isfinite(change) or change > EXPLODED * max(1.0, scale)


def _stopped(change: float, f: NDArray, tol: float, scale: float) -> bool | None:
    """The Picard stopping rule: ``True`` converged (change <= tol * max(1, RMS f)), ``False``
    diverged (:func:`_exploded`, with ``scale`` the change of the first iterate), ``None`` go
    on."""
    if _exploded(change, scale):
        return False
    return True if change <= tol * max(1.0, _rms(f)) else None
